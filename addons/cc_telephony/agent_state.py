"""Agent state log: contiguous intervals per agent, as the tracker closes
them. The raw material of occupancy, adherence and QA sampling."""
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.rpc import RPC
from trytond.transaction import without_check_access

from .agent import AGENT_STATES
from .call import (
    changed_values, check_fact_value, row_changes, sql_insert, sql_select,
    sql_update, use_orm_ingest)


class AgentState(ModelSQL, ModelView):
    "Agent State"
    __name__ = 'cc.agent.state'
    __string__ = "Agent State"
    key = fields.Char(
        "Key", required=True, readonly=True,
        help="Identity of the interval (interface and start) that makes "
        "ingestion idempotent.")
    agent = fields.Many2One(
        'cc.agent', "Agent", readonly=True, ondelete='SET NULL')
    interface = fields.Char("Interface", required=True, readonly=True)
    state = fields.Selection(
        AGENT_STATES, "State", required=True, readonly=True)
    state_string = state.translated('state')
    reason = fields.Many2One(
        'cc.agent.reason', "Reason", readonly=True, ondelete='SET NULL')
    reason_code = fields.Char(
        "Reason Code", readonly=True,
        help="Pause reason as the PBX reported it.")
    queue = fields.Many2One(
        'cc.queue', "Queue", readonly=True, ondelete='SET NULL')
    start = fields.DateTime("Start", required=True, readonly=True)
    end = fields.DateTime("End", required=True, readonly=True)
    duration_seconds = fields.Float(
        "Duration (s)", digits=(16, 3), readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('key_unique', Unique(t, t.key),
                'cc_telephony.msg_agent_state_key_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.agent, Index.Range()), (t.start, Index.Range())),
                Index(t, (t.interface, Index.Equality()),
                    (t.start, Index.Range())),
                })
        cls._order = [('start', 'DESC'), ('id', 'DESC')]
        cls.__rpc__.update({
                'ingest_intervals': RPC(readonly=False),
                })

    def get_rec_name(self, name):
        return f'{self.interface} {self.state_string} {self.start}'

    @classmethod
    def ingest_intervals(cls, intervals):
        """Store closed intervals from the tracker, idempotent on ``key``.

        A wrap-up interval also gives its length to the call leg that ended
        when it began. Returns the interval ids."""
        ModelAccess = Pool().get('ir.model.access')
        ModelAccess.check(cls.__name__, 'create')
        with without_check_access():
            if use_orm_ingest():
                return cls._ingest_intervals_orm(intervals)
            return cls._ingest_intervals_sql(intervals)

    COLUMNS = ['agent', 'interface', 'state', 'reason', 'reason_code',
        'queue', 'start', 'end', 'duration_seconds']

    @classmethod
    def check_interval(cls, interval):
        "Refuse an interval ModelSQL would refuse, before any write."
        message = 'cc_telephony.msg_agent_interval_invalid'
        if not isinstance(interval, dict):
            check_fact_value(message, '?', 'interval', interval or '?',
                'selection', ())
        key = interval.get('key')
        check_fact_value(message, '?', 'key', key, 'char', required=True)
        check = lambda *a, **k: check_fact_value(  # noqa: E731
            message, key, *a, **k)
        check('interface', interval.get('interface'), 'char', required=True)
        check('state', interval.get('state'), 'selection',
            {k for k, _ in AGENT_STATES}, required=True)
        check('start', interval.get('start'), 'datetime', required=True)
        check('end', interval.get('end'), 'datetime', required=True)
        for name in ['reason', 'queue']:
            check(name, interval.get(name), 'char')

    @classmethod
    def _ingest_intervals_sql(cls, intervals):
        "The set-based ingest: a few statements per batch, not per record."
        pool = Pool()
        Agent = pool.get('cc.agent')
        Reason = pool.get('cc.agent.reason')
        Queue = pool.get('cc.queue')
        Leg = pool.get('cc.call.leg')
        for interval in intervals:
            cls.check_interval(interval)
        intervals = list({i['key']: i for i in intervals}.values())
        agents = Agent.by_interface(i['interface'] for i in intervals)
        reasons = Reason.by_code(i.get('reason') for i in intervals)
        queues = Queue.by_codes(i.get('queue') for i in intervals)
        existing = {r['key']: r for r in sql_select(cls,
                ['key'] + cls.COLUMNS, 'key', [i['key'] for i in intervals])}
        to_create, changes, wrapups = [], [], []
        for interval in intervals:
            values = cls._interval_values(interval, agents, reasons, queues)
            row = existing.get(interval['key'])
            if row is None:
                values['key'] = interval['key']
                to_create.append(values)
            else:
                changed = row_changes(row, values)
                if changed:
                    changes.append((row['id'], changed))
            if values['state'] == 'wrap_up':
                wrapups.append(values)
        sql_update(cls, changes)
        sql_insert(cls, ['key'] + cls.COLUMNS, to_create)
        Leg.give_wrapups_sql(wrapups)
        ids = {r['key']: r['id'] for r in sql_select(cls, ['key'], 'key',
                [v['key'] for v in to_create])}
        return [existing[i['key']]['id'] if i['key'] in existing
            else ids[i['key']] for i in intervals]

    @classmethod
    def _interval_values(cls, interval, agents, reasons, queues):
        return {
            'agent': agents.get(interval['interface']),
            'interface': interval['interface'],
            'state': interval['state'],
            'reason': reasons.get(interval.get('reason')),
            'reason_code': interval.get('reason') or None,
            'queue': queues.get(interval.get('queue')),
            'start': interval['start'],
            'end': interval['end'],
            'duration_seconds': round(
                (interval['end'] - interval['start']).total_seconds(), 3),
            }

    @classmethod
    def _ingest_intervals_orm(cls, intervals):
        "The record-by-record ingest: kept as the benchmark's baseline."
        pool = Pool()
        Agent = pool.get('cc.agent')
        Reason = pool.get('cc.agent.reason')
        Queue = pool.get('cc.queue')
        # One interval may come twice in a batch (a replayed spool).
        intervals = list({i['key']: i for i in intervals}.values())
        agents = Agent.by_interface(i['interface'] for i in intervals)
        reasons = Reason.by_code(i.get('reason') for i in intervals)
        queues = Queue.by_codes(i.get('queue') for i in intervals)
        existing = {s.key: s for s in cls.search(
                [('key', 'in', [i['key'] for i in intervals])])}
        to_create, to_write = [], []
        for interval in intervals:
            values = cls._interval_values(interval, agents, reasons, queues)
            record = existing.get(interval['key'])
            if record is None:
                values['key'] = interval['key']
                to_create.append(values)
            else:
                values = changed_values(record, values)
                if values:
                    to_write.extend(([record], values))
        records = list(existing.values())
        if to_write:
            cls.write(*to_write)
        if to_create:
            records += cls.create(to_create)
        cls._give_wrapups([r for r in records if r.state == 'wrap_up'])
        return [r.id for r in records]

    @classmethod
    def _give_wrapups(cls, wrapups):
        pool = Pool()
        Leg = pool.get('cc.call.leg')
        Call = pool.get('cc.call')
        legs = []
        for wrapup in wrapups:
            legs += Leg.search([
                    ('interface', '=', wrapup.interface),
                    ('end_time', '=', wrapup.start),
                    ('answer_time', '!=', None),
                    ])
        if legs:
            Leg.link_wrapups(legs)
            Call._update_totals(list({leg.call for leg in legs}))
