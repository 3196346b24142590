"""Call records: one per call, with a leg per agent reached.

The router creates the record when it decides where a call goes (so the
record keeps why) and the bridge completes it from the tracker's call fact
when the call ends. Both write through methods that are idempotent on the
call's Asterisk unique id: a fact delivered twice changes nothing.
"""
import datetime as dt
import json
import math

from sql import Column, Null, Select
from sql.aggregate import Sum
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.model.exceptions import AccessError, ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.rpc import RPC
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

# Advisory lock id (PostgreSQL) shared by everything that creates calls.
CALL_WRITERS_LOCK = 0x63632e63  # 'cc.c'
# The unique constraint on the calls' uniqueid, as the database names it.
UNIQUEID_CONSTRAINT = 'cc_call_uniqueid_unique'


def is_call_race(error):
    """Whether ``error`` is two writers (router, bridge, screen pop) having
    created the same call at once. lock_calls serialises them, but on
    PostgreSQL a REPEATABLE READ transaction that had already read does not
    see the other's call after the lock: the insert hits the unique
    constraint. The same work in a new transaction sees the call."""
    while error is not None:
        if UNIQUEID_CONSTRAINT in str(error):
            return True
        error = error.__cause__
    return False
DIRECTIONS = [
    ('inbound', "Inbound"),
    ('outbound', "Outbound"),
    ('internal', "Internal"),
    ]
RESULTS = [
    (None, ""),
    ('answered', "Answered"),
    ('abandoned', "Abandoned"),
    ('timeout', "Timed Out"),
    ('overflowed', "Overflowed"),
    ('voicemail', "Voicemail"),
    ('transferred', "Transferred"),
    ('rejected', "Rejected"),
    ('no_answer', "Not Answered"),
    ]
LEG_RESULTS = [
    ('answered', "Answered"),
    ('ring_no_answer', "Ring No Answer"),
    ('transferred_blind', "Blind Transfer"),
    ('transferred_attended', "Attended Transfer"),
    ('completed', "Completed"),
    ]
ACTIONS = [
    (None, ""),
    ('queue', "Queue"),
    ('reject', "Reject"),
    ('ivr', "IVR"),
    ('voicemail', "Voicemail"),
    ('night', "Night Service"),
    ('callback', "Callback Offered"),
    ('choice', "Wait Told, Choices Offered"),
    ]
CALL_STATES = [
    ('live', "In Progress"),
    ('ended', "Ended"),
    ]


def _current(record, name):
    "Stored value of a field in the form ``write`` takes (ids for links)."
    value = getattr(record, name)
    if record._fields[name]._type == 'reference':
        return str(value) if value else None
    if isinstance(value, ModelSQL):
        return value.id
    return value


def changed_values(record, values):
    "The part of ``values`` that differs from what ``record`` stores."
    result = {}
    for name, value in values.items():
        current = _current(record, name)
        if isinstance(value, float) and isinstance(current, float):
            if round(value, 3) == round(current, 3):
                continue
        elif value == current:
            continue
        result[name] = value
    return result


class InvalidFact(ValidationError):
    "A tracker fact the database cannot take as it is (dead-lettered)."


# Set-based storage: the bridge writes thousands of facts a second, so the
# ingest methods below write with a few SQL statements per batch instead of
# ModelSQL.create/write per record, keeping what those do that matters here
# (access check, create/write user and date, cache invalidation, the
# validation of the values, done on the facts before anything is written).
INGEST_MODELS = ['cc.call', 'cc.call.leg', 'cc.call-party.party',
    'cc.interaction', 'cc.agent.state']


def use_orm_ingest():
    """Whether ingestion must go through ModelSQL.create/write: asked for
    (``cc_ingest_orm`` in the context, the benchmark's baseline), or needed
    because an ir.trigger watches one of the models (raw SQL would not fire
    it)."""
    if Transaction().context.get('cc_ingest_orm'):
        return True
    Trigger = Pool().get('ir.trigger')
    return any(Trigger.get_triggers(model, mode)
        for model in INGEST_MODELS for mode in ('create', 'write'))


def _chunk_size(columns):
    # SQLite allows 32,766 parameters per statement (3.32+).
    return max(1, min(1000, 30000 // max(1, columns)))


def _touched(Model):
    "What ModelStorage.create/write do to caches, for raw SQL writes."
    transaction = Transaction()
    transaction.counter += 1
    for cache in transaction.cache.values():
        cache.pop(Model.__name__, None)
    Model._count_cache.set(Model.__name__, None)


def sql_select(Model, names, column, keys, where=None):
    """Rows (dicts with ``id`` and ``names``) of Model whose ``column`` is
    in ``keys``, read in chunks."""
    table = Model.__table__()
    cursor = Transaction().connection.cursor()
    keys = list({k for k in keys if k is not None})
    rows = []
    columns = [table.id] + [Column(table, n) for n in names]
    for chunk in grouped_slice(keys, 500):
        condition = Column(table, column).in_(list(chunk))
        if where is not None:
            condition &= where(table)
        cursor.execute(*table.select(*columns, where=condition))
        rows.extend(dict(zip(['id'] + names, row))
            for row in cursor.fetchall())
    return rows


def sql_insert(Model, names, vlist):
    "Insert ``vlist`` (dicts of ``names``) with multi-row INSERTs."
    if not vlist:
        return
    transaction = Transaction()
    table = Model.__table__()
    cursor = transaction.connection.cursor()
    fields_ = [Model._fields[n] for n in names]
    columns = [table.create_uid, table.create_date] + [
        Column(table, n) for n in names]
    for chunk in grouped_slice(vlist, _chunk_size(len(columns))):
        cursor.execute(*table.insert(columns, [
                    [transaction.user, CurrentTimestamp()] + [
                        f.sql_format(v.get(n)) for f, n in zip(fields_, names)]
                    for v in chunk]))
    _touched(Model)


def sql_update(Model, changes):
    """Write ``changes`` ([(id, {name: value})]); rows changing the same
    columns share one statement, run with executemany."""
    if not changes:
        return
    transaction = Transaction()
    table = Model.__table__()
    cursor = transaction.connection.cursor()
    statements = {}
    for id_, values in changes:
        names = sorted(values)
        query, params = tuple(table.update(
                [table.write_uid, table.write_date] + [
                    Column(table, n) for n in names],
                [transaction.user, CurrentTimestamp()] + [
                    Model._fields[n].sql_format(values[n]) for n in names],
                where=table.id == id_))
        statements.setdefault(query, []).append(params)
    for query, params in statements.items():
        if len(params) == 1:
            cursor.execute(query, params[0])
        else:
            cursor.executemany(query, params)
    _touched(Model)


def differs(current, value):
    if isinstance(value, float) or isinstance(current, float):
        if current is None or value is None:
            return current is not value
        return round(float(value), 3) != round(float(current), 3)
    if isinstance(value, bool) or isinstance(current, bool):
        # SQLite returns booleans as integers.
        return bool(value) != bool(current) or (current is None) != (
            value is None)
    return value != current


def row_changes(row, values):
    "The part of ``values`` that differs from ``row`` (a dict from SQL)."
    return {n: v for n, v in values.items() if differs(row.get(n), v)}


def check_fact_value(message, record, name, value, kind, choices=None,
        required=False):
    """Raise InvalidFact unless ``value`` is of ``kind``: what ModelSQL
    would refuse (or store wrong) is refused before anything is written."""
    if value is None or value == '':
        if required:
            raise InvalidFact(gettext(message, record=record, field=name,
                    value=repr(value)))
        return
    if kind == 'datetime':
        valid = isinstance(value, dt.datetime) and value.tzinfo is None
    elif kind == 'number':
        try:
            valid = not isinstance(value, (bool, str)) and math.isfinite(
                float(value))
        except (TypeError, ValueError):
            valid = False
    elif kind == 'integer':
        valid = isinstance(value, int) and not isinstance(value, bool)
    elif kind == 'selection':
        valid = value in choices
    else:
        valid = isinstance(value, str)
    if not valid:
        raise InvalidFact(gettext(message, record=record, field=name,
                value=repr(value)[:100]))


# What an agent may change on a call (picking the customer of a number
# several customers share).
AGENT_WRITABLE = {'party'}


class Call(ModelSQL, ModelView):
    "Call"
    __name__ = 'cc.call'
    __string__ = "Call"
    _rec_name = 'uniqueid'
    uniqueid = fields.Char(
        "Unique ID", required=True, readonly=True,
        help="Asterisk Uniqueid of the call's first channel.")
    linkedid = fields.Char("Linked ID", readonly=True)
    pbx = fields.Many2One('cc.pbx', "PBX", readonly=True, ondelete='SET NULL')
    state = fields.Selection(CALL_STATES, "State", readonly=True)
    direction = fields.Selection(
        DIRECTIONS, "Direction", required=True, readonly=True)
    caller_raw = fields.Char("Caller (as received)", readonly=True)
    caller_number = fields.Char("Caller Number", readonly=True)
    caller_region = fields.Char("Caller Region", readonly=True)
    dnis = fields.Char("Dialled Number", readonly=True)
    service = fields.Many2One(
        'cc.dnis', "Service", readonly=True, ondelete='SET NULL')
    ivr_path = fields.Char("IVR Path", readonly=True)
    queue = fields.Many2One(
        'cc.queue', "Queue", readonly=True, ondelete='SET NULL')
    queue_code = fields.Char(
        "Queue Code", readonly=True,
        help="Queue name reported by the PBX, kept even if unknown here.")
    enter_time = fields.DateTime("Entered", readonly=True)
    answer_time = fields.DateTime("Answered At", readonly=True)
    end_time = fields.DateTime("Ended", readonly=True)
    wait_seconds = fields.Float("Wait (s)", digits=(16, 3), readonly=True)
    ring_seconds = fields.Float("Ring (s)", digits=(16, 3), readonly=True)
    talk_seconds = fields.Float("Talk (s)", digits=(16, 3), readonly=True)
    hold_seconds = fields.Float("Hold (s)", digits=(16, 3), readonly=True)
    wrapup_seconds = fields.Float(
        "Wrap-up (s)", digits=(16, 3), readonly=True)
    within_service_level = fields.Boolean(
        "Within Service Level", readonly=True,
        help="Answered within the queue's service-level threshold.")
    result = fields.Selection(RESULTS, "Result", readonly=True)
    result_string = result.translated('result')
    abandon_position = fields.Integer(
        "Abandoned at Position", readonly=True)
    recording = fields.Char("Recording", readonly=True)
    agent = fields.Many2One(
        'cc.agent', "Agent", readonly=True, ondelete='SET NULL',
        help="The last agent who talked with the caller.")
    party = fields.Many2One(
        'party.party', "Customer", ondelete='SET NULL',
        help="Set when exactly one customer has the number; otherwise the "
        "agent picks one of the candidates.")
    candidates = fields.Many2Many(
        'cc.call-party.party', 'call', 'party', "Candidate Customers",
        readonly=True)
    interaction = fields.Many2One(
        'cc.interaction', "Contact", readonly=True, ondelete='SET NULL')
    legs = fields.One2Many('cc.call.leg', 'call', "Legs", readonly=True)
    routed_at = fields.DateTime("Routed At", readonly=True)
    routing_action = fields.Selection(
        ACTIONS, "Routing Action", readonly=True)
    routing_queue = fields.Char("Routed to Queue", readonly=True)
    routing_priority = fields.Integer("Routing Priority", readonly=True)
    routing_agent = fields.Char("Preferred Agent", readonly=True)
    routing_target = fields.Char("Routing Target", readonly=True)
    routing_reason = fields.Char("Routing Reason", readonly=True)
    routing_explanation = fields.Text("Routing Explanation", readonly=True)
    # The explanation's steps (routing.Decision.steps) as JSON, from which
    # routing_why says it in the reader's language.
    routing_steps = fields.Text("Routing Steps", readonly=True)
    routing_why = fields.Function(
        fields.Text("Why Routed So"), 'get_routing_why')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('uniqueid_unique', Unique(t, t.uniqueid),
                'cc_telephony.msg_call_uniqueid_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.enter_time, Index.Range())),
                # Last-agent affinity looks up a caller's recent calls.
                Index(t, (t.caller_number, Index.Equality()),
                    (t.enter_time, Index.Range())),
                Index(t, (t.party, Index.Range()),
                    (t.enter_time, Index.Range())),
                Index(t, (t.queue, Index.Range()),
                    (t.enter_time, Index.Range())),
                })
        cls._order = [('enter_time', 'DESC NULLS FIRST'), ('id', 'DESC')]
        cls.__rpc__.update({
                'ingest_facts': RPC(readonly=False),
                'record_decisions': RPC(readonly=False),
                })

    @classmethod
    def default_state(cls):
        return 'live'

    @classmethod
    def check_modification(cls, mode, calls, values=None, external=False):
        """A call is what the telephone system recorded: over RPC, who may
        not record calls (create access, as for ingestion) may only pick
        its customer among the candidates. Tryton does not enforce
        ``readonly`` on the server."""
        super().check_modification(mode, calls, values=values,
            external=external)
        if mode != 'write' or not external or not values:
            return
        recorded = sorted(set(values) - AGENT_WRITABLE)
        access = Pool().get('ir.model.access').get_access([cls.__name__])
        if recorded and not access[cls.__name__]['create']:
            raise AccessError(gettext('cc_telephony.msg_call_recorded_fields',
                    fields=', '.join(cls._fields[f].string for f in recorded)))

    @classmethod
    def default_direction(cls):
        return 'inbound'

    def get_routing_why(self, name):
        """The routing explanation in the reader's language; calls routed
        before the steps were kept show the stored English."""
        if not self.routing_steps:
            return self.routing_explanation
        states = dict(Pool().get('cc.agent').fields_get(
                ['state'])['state']['selection'])
        sentences = []
        for key, params in json.loads(self.routing_steps):
            if 'state' in params:
                params['state'] = states.get(params['state'], params['state'])
            sentences.append(gettext(
                    f'cc_telephony.msg_routing_{key}', **params))
        return '\n'.join(sentences)

    # -- routing decisions ------------------------------------------------

    @classmethod
    def last_agent(cls, number, party_ids, since):
        """(interface, answer time) of the latest answered leg of a call
        from ``number`` or one of ``party_ids`` since ``since``, or None."""
        Leg = Pool().get('cc.call.leg')
        call, leg = cls.__table__(), Leg.__table__()
        match = []
        if number:
            match.append(call.caller_number == number)
        if party_ids:
            match.append(call.party.in_(list(party_ids)))
        if not match:
            return None
        condition = match[0]
        for other in match[1:]:
            condition |= other
        cursor = Transaction().connection.cursor()
        cursor.execute(*call.join(leg, condition=leg.call == call.id).select(
                leg.interface, leg.answer_time,
                where=condition & (call.enter_time >= since)
                & (leg.answer_time != Null),
                order_by=[leg.answer_time.desc], limit=1))
        row = cursor.fetchone()
        return tuple(row) if row else None

    @classmethod
    def record_decisions(cls, decisions, pbx=None):
        """Store the router's decisions, each a dict with ``uniqueid``,
        ``linkedid``, ``caller_raw``, ``dnis``, ``routed_at`` and the
        decision's ``action``, ``queue``, ``priority``, ``agent``,
        ``target``, ``reason`` and ``explanation`` (list of sentences).

        The call may already be recorded (the bridge won the race, or the
        router asked twice): only the routing fields are then written.
        """
        pool = Pool()
        ModelAccess = pool.get('ir.model.access')
        ModelAccess.check(cls.__name__, 'create')
        with without_check_access():
            cls._record_decisions(decisions, pbx)

    @classmethod
    def lock_calls(cls):
        """Serialise the writers of calls (router, bridge, screen pop) for
        the rest of the transaction: each looks a call up by uniqueid and
        creates it if missing, which two writers must not do at once."""
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        if backend.name == 'postgresql':
            cursor.execute(*Select([transaction.database.lock_id(
                            CALL_WRITERS_LOCK, timeout=True)]))
        else:
            # SQLite takes its write lock at a transaction's first write;
            # a write that changes nothing takes it before the look-up.
            table = cls.__table__()
            cursor.execute(*table.update(
                    [table.id], [table.id], where=table.id == -1))

    @classmethod
    def _record_decisions(cls, decisions, pbx):
        cls.lock_calls()
        decisions = list({d['uniqueid']: d for d in decisions}.values())
        existing = cls._by_uniqueid(d['uniqueid'] for d in decisions)
        links = cls._decision_links(decisions)
        to_create, to_write = [], []
        for decision in decisions:
            values = cls._decision_values(decision, links)
            call = existing.get(decision['uniqueid'])
            if call is None:
                values.update(cls._caller_values(
                        decision.get('caller_raw'), decision.get('dnis'),
                        'inbound'))
                # Only a new call takes the dialled number: on a known one
                # it is the bridge's (or the screen pop's) to keep.
                values.update({
                        'uniqueid': decision['uniqueid'],
                        'linkedid': decision.get('linkedid')
                        or decision['uniqueid'],
                        'dnis': decision.get('dnis') or None,
                        'pbx': pbx,
                        'enter_time': decision.get('routed_at'),
                        })
                to_create.append(values)
                continue
            if call.queue_code:
                # The bridge saw where the call waited (an overflow queue,
                # say); the router only where it sent it (routing_queue).
                del values['queue'], values['queue_code']
            values = changed_values(call, values)
            if values:
                to_write.extend(([call], values))
        if to_create:
            cls.create(to_create)
        if to_write:
            cls.write(*to_write)

    @classmethod
    def _decision_links(cls, decisions):
        "Queues and services named by a batch of decisions, found at once."
        pool = Pool()
        Queue = pool.get('cc.queue')
        Dnis = pool.get('cc.dnis')
        numbers = list({d['service'] for d in decisions if d.get('service')})
        return {
            'queues': Queue.by_codes(d.get('queue') for d in decisions),
            'services': {s.number: s.id for s in Dnis.search([
                        ('number', 'in', numbers),
                        ('active', 'in', [True, False]),
                        ])} if numbers else {},
            }

    @classmethod
    def _decision_values(cls, decision, links):
        return {
            'routed_at': decision.get('routed_at'),
            'routing_action': decision.get('action'),
            'routing_queue': decision.get('queue') or None,
            'routing_priority': decision.get('priority'),
            'routing_agent': decision.get('agent') or None,
            'routing_target': decision.get('target') or None,
            'routing_reason': decision.get('reason') or None,
            'routing_explanation': '\n'.join(
                decision.get('explanation') or []) or None,
            'routing_steps': (json.dumps(decision['steps'], ensure_ascii=False)
                if decision.get('steps') else None),
            'service': links['services'].get(decision.get('service')),
            'queue': links['queues'].get(decision.get('queue')),
            'queue_code': decision.get('queue') or None,
            }

    # -- call facts -------------------------------------------------------

    @classmethod
    def ingest_facts(cls, facts, pbx=None):
        """Store call facts from the tracker (see tracker.py for the keys).

        Idempotent on ``uniqueid``: a known call is updated only where the
        fact differs, legs are matched on interface and ring start, and the
        contact (cc.interaction) is created once. Returns the call ids.
        """
        pool = Pool()
        ModelAccess = pool.get('ir.model.access')
        ModelAccess.check(cls.__name__, 'create')
        with without_check_access():
            if use_orm_ingest():
                return cls._ingest_facts_orm(facts, pbx)
            return cls._ingest_facts_sql(facts, pbx)

    # Columns of cc.call a fact sets (the rest belongs to the router and
    # the agent's console).
    FACT_COLUMNS = ['linkedid', 'state', 'direction', 'dnis', 'ivr_path',
        'queue', 'queue_code', 'enter_time', 'answer_time', 'end_time',
        'wait_seconds', 'result', 'abandon_position', 'recording',
        'within_service_level', 'agent', 'caller_raw', 'caller_number',
        'caller_region', 'party', 'ring_seconds', 'talk_seconds',
        'hold_seconds', 'wrapup_seconds']
    LEG_COLUMNS = ['agent', 'answer_time', 'end_time', 'ring_seconds',
        'talk_seconds', 'hold_seconds', 'result', 'transfer_target',
        'wrapup_seconds']
    INTERACTION_COLUMNS = ['channel', 'direction', 'start', 'end', 'party',
        'number', 'agent', 'team', 'summary', 'origin']

    @classmethod
    def check_fact(cls, fact):
        "Refuse a fact ModelSQL would refuse, before anything is written."
        message = 'cc_telephony.msg_call_fact_invalid'
        if not isinstance(fact, dict):
            raise InvalidFact(gettext(message, record='?', field='fact',
                    value=repr(fact)[:100]))
        uniqueid = fact.get('uniqueid')
        check_fact_value(message, '?', 'uniqueid', uniqueid, 'char',
            required=True)
        check = lambda *a, **k: check_fact_value(  # noqa: E731
            message, uniqueid, *a, **k)
        check('direction', fact.get('direction'), 'selection',
            {k for k, _ in DIRECTIONS}, required=True)
        check('result', fact.get('result'), 'selection',
            {k for k, _ in RESULTS})
        for name in ['linkedid', 'caller_raw', 'dnis', 'ivr_path', 'queue',
                'recording']:
            check(name, fact.get(name), 'char')
        for name in ['enter_time', 'answer_time', 'end_time']:
            check(name, fact.get(name), 'datetime')
        check('wait_seconds', fact.get('wait_seconds'), 'number')
        check('abandon_position', fact.get('abandon_position'), 'integer')
        if (fact.get('direction') != 'internal' and fact.get('end_time')
                and fact.get('enter_time')
                and fact['end_time'] < fact['enter_time']):
            # The contact (cc.interaction) cannot end before it starts.
            check('end_time', fact['end_time'], 'selection', ())
        legs = fact.get('legs') or []
        if not isinstance(legs, list):
            check('legs', legs, 'selection', ())
        for leg in legs:
            if not isinstance(leg, dict):
                check('legs', leg or '?', 'selection', ())
            check('agent_interface', leg.get('agent_interface'), 'char',
                required=True)
            check('ring_start', leg.get('ring_start'), 'datetime',
                required=True)
            for name in ['answer_time', 'end_time']:
                check(name, leg.get(name), 'datetime')
            for name in ['ring_seconds', 'talk_seconds', 'hold_seconds']:
                check(name, leg.get(name), 'number')
            check('result', leg.get('result'), 'selection',
                {k for k, _ in LEG_RESULTS})
            check('transfer_target', leg.get('transfer_target'), 'char')

    @classmethod
    def _ingest_facts_sql(cls, facts, pbx):
        "The set-based ingest: a few statements per batch, not per record."
        pool = Pool()
        Leg = pool.get('cc.call.leg')
        Candidate = pool.get('cc.call-party.party')
        for fact in facts:
            cls.check_fact(fact)
        cls.lock_calls()
        facts = list({f['uniqueid']: f for f in facts}.values())
        context = cls._ingest_context(facts)
        context['parties'] = cls._match_callers(facts)
        existing = {r['uniqueid']: r for r in sql_select(cls,
                ['uniqueid', 'routed_at', 'interaction'] + cls.FACT_COLUMNS,
                'uniqueid', [f['uniqueid'] for f in facts])}
        current_legs = {}
        for row in sql_select(Leg, ['call', 'interface', 'ring_start']
                + cls.LEG_COLUMNS, 'call', [r['id'] for r in
                    existing.values()]):
            current_legs.setdefault(row['call'], {})[
                (row['interface'], row['ring_start'])] = row
        wrapups = Leg.wrapup_lengths(
            (leg['agent_interface'], leg.get('end_time'))
            for f in facts for leg in f.get('legs') or []
            if leg.get('answer_time') and leg.get('end_time'))

        to_create, candidates, call_changes = [], {}, []
        legs_wanted = {}
        for fact in facts:
            values = cls._fact_values_sql(fact, context)
            row = existing.get(fact['uniqueid'])
            old_legs = current_legs.get(row['id'], {}) if row else {}
            wanted = Leg.fact_legs(fact, context, old_legs, wrapups)
            legs_wanted[fact['uniqueid']] = wanted
            for name in ['ring_seconds', 'talk_seconds', 'hold_seconds',
                    'wrapup_seconds']:
                values[name] = round(
                    sum(v[name] or 0 for v in wanted.values()), 3)
            party_ids = values.pop('candidates')
            if row is None:
                values.update(uniqueid=fact['uniqueid'], pbx=pbx)
                to_create.append(values)
                candidates[fact['uniqueid']] = party_ids
                continue
            # The router already matched the caller; keep an agent's choice
            # of customer among several candidates.
            if row['party']:
                values.pop('party')
            changes = row_changes(row, values)
            if changes:
                call_changes.append((row['id'], changes))
                row.update(changes)
        names = cls.FACT_COLUMNS + ['uniqueid', 'pbx']
        sql_insert(cls, names, to_create)
        sql_update(cls, call_changes)
        for row in sql_select(cls, ['uniqueid', 'routed_at', 'interaction']
                + cls.FACT_COLUMNS, 'uniqueid',
                [v['uniqueid'] for v in to_create]):
            existing[row['uniqueid']] = row
        sql_insert(Candidate, ['call', 'party'], [
                {'call': existing[u]['id'], 'party': p}
                for u, party_ids in candidates.items() for p in party_ids])
        Leg.store_fact_legs(
            {existing[u]['id']: (wanted, current_legs.get(existing[u]['id'],
                        {})) for u, wanted in legs_wanted.items()})
        rows = [existing[f['uniqueid']] for f in facts]
        cls._link_interactions_sql(rows, context)
        return [r['id'] for r in rows]

    @classmethod
    def _match_callers(cls, facts):
        """{raw number: (e164, region, [party ids])} of a batch: one parse
        per number and one query for the whole batch (Caller.match_parties
        is one query per number)."""
        pool = Pool()
        Configuration = pool.get('cc.configuration')
        Mechanism = pool.get('party.contact_mechanism')
        Party = pool.get('party.party')
        from trytond.modules.cc_base import number as numbers
        from trytond.modules.cc_base.caller import PHONE_TYPES
        options = Configuration.caller_options()
        parsed = {}
        for fact in facts:
            for raw in (fact.get('caller_raw'), fact.get('dnis')):
                raw = raw or ''
                if raw not in parsed:
                    parsed[raw] = numbers.parse(raw, **options)
        keys = list({p.key for p in parsed.values() if p.key})
        matches = {}
        mechanism, party = Mechanism.__table__(), Party.__table__()
        cursor = Transaction().connection.cursor()
        for chunk in grouped_slice(keys, 500):
            cursor.execute(*mechanism.join(party,
                    condition=mechanism.party == party.id).select(
                    mechanism.value_compact, party.id,
                    where=mechanism.value_compact.in_(list(chunk))
                    & mechanism.type.in_(PHONE_TYPES)
                    & (mechanism.active == True)  # noqa: E712
                    & (party.active == True),  # noqa: E712
                    group_by=[mechanism.value_compact, party.id]))
            for key, party_id in cursor:
                matches.setdefault(key, set()).add(party_id)
        return {raw: (p.e164, p.region, sorted(matches.get(p.key, ())))
            for raw, p in parsed.items()}

    @classmethod
    def _fact_values_sql(cls, fact, context):
        "What _fact_values gives, from the batch's look-ups only."
        queue_id = context['queues'].get(fact.get('queue'))
        values = cls._fact_common_values(fact, queue_id, context)
        if queue_id and fact.get('answer_time'):
            values['within_service_level'] = (values['wait_seconds']
                <= context['service_levels'][queue_id])
        caller_raw = fact.get('caller_raw')
        customer_raw = (fact.get('dnis') if fact['direction'] == 'outbound'
            else caller_raw)
        e164, region, _ = context['parties'][caller_raw or '']
        values.update(caller_raw=caller_raw or None, caller_number=e164,
            caller_region=region)
        if fact['direction'] == 'internal' or not customer_raw:
            party_ids = []
        else:
            party_ids = context['parties'][customer_raw][2]
        values['candidates'] = party_ids
        values['party'] = party_ids[0] if len(party_ids) == 1 else None
        return values

    @classmethod
    def _link_interactions_sql(cls, rows, context):
        "_link_interactions on the rows of a batch, set-based."
        pool = Pool()
        Interaction = pool.get('cc.interaction')
        Agent = pool.get('cc.agent')
        Queue = pool.get('cc.queue')
        rows = [r for r in rows if r['direction'] != 'internal']
        if not rows:
            return
        agents = {a.id: (a.user.id if a.user else None,
                a.team.id if a.team else None)
            for a in Agent.browse(list({r['agent'] for r in rows
                        if r['agent']}))}
        queues = {q.id: q.rec_name for q in Queue.browse(
                list({r['queue'] for r in rows if r['queue']}))}
        results = {}
        current = {r['id']: r for r in sql_select(Interaction,
                cls.INTERACTION_COLUMNS, 'id',
                [r['interaction'] for r in rows])}
        to_create, changes = [], []
        for row in rows:
            if row['result'] not in results:
                results[row['result']] = cls(
                    result=row['result']).result_string
            parts = [results[row['result']] or '']
            if row['queue']:
                parts.append(queues[row['queue']])
            if row['ivr_path']:
                parts.append(f'IVR {row["ivr_path"]}')
            user, team = agents.get(row['agent'], (None, None))
            values = {
                'channel': 'phone',
                'direction': row['direction'],
                'start': row['enter_time'] or row['routed_at'],
                'end': row['end_time'],
                'party': row['party'],
                'number': (row['dnis'] if row['direction'] == 'outbound'
                    else row['caller_number']),
                'agent': user,
                'team': team,
                'summary': ' / '.join(p for p in parts if p),
                'origin': f'{cls.__name__},{row["id"]}',
                }
            interaction = current.get(row['interaction'])
            if interaction is None:
                to_create.append(values)
            else:
                values = row_changes(interaction, values)
                if values:
                    changes.append((interaction['id'], values))
        sql_update(Interaction, changes)
        sql_insert(Interaction, cls.INTERACTION_COLUMNS, to_create)
        created = {r['origin']: r['id'] for r in sql_select(Interaction,
                ['origin'], 'origin', [v['origin'] for v in to_create])}
        sql_update(cls, [(int(origin.split(',')[1]), {'interaction': id_})
                for origin, id_ in created.items()])

    @classmethod
    def _ingest_facts_orm(cls, facts, pbx):
        "The record-by-record ingest: kept as the benchmark's baseline."
        pool = Pool()
        Leg = pool.get('cc.call.leg')
        cls.lock_calls()
        # A replayed spool may hold one call twice: the last fact wins.
        facts = list({f['uniqueid']: f for f in facts}.values())
        existing = cls._by_uniqueid(f['uniqueid'] for f in facts)
        context = cls._ingest_context(facts)
        to_create, to_write, created_facts = [], [], []
        for fact in facts:
            values = cls._fact_values(fact, context)
            call = existing.get(fact['uniqueid'])
            if call is None:
                values['uniqueid'] = fact['uniqueid']
                values['pbx'] = pbx
                to_create.append(values)
                created_facts.append(fact)
                continue
            # The router already matched the caller; keep an agent's choice
            # of customer among several candidates.
            if call.party:
                values.pop('party', None)
            values = changed_values(call, cls._writable(values))
            if values:
                to_write.extend(([call], values))
        calls = {c.uniqueid: c for c in existing.values()}
        if to_create:
            calls.update((c.uniqueid, c) for c in cls.create(to_create))
        if to_write:
            cls.write(*to_write)
        for fact in facts:
            Leg.sync(calls[fact['uniqueid']], fact.get('legs') or [], context)
        records = [calls[f['uniqueid']] for f in facts]
        cls._update_totals(records)
        cls._link_interactions(records)
        return [c.id for c in records]

    @classmethod
    def _writable(cls, values):
        "Many2Many values are only given on create (candidates never move)."
        values = dict(values)
        if 'candidates' in values:
            del values['candidates']
        return values

    @classmethod
    def _by_uniqueid(cls, uniqueids):
        uniqueids = list({u for u in uniqueids})
        calls = {}
        # Chunks keep the IN list below SQLite's parameter limit.
        size = 500
        for i in range(0, len(uniqueids), size):
            for call in cls.search(
                    [('uniqueid', 'in', uniqueids[i:i + size])]):
                calls[call.uniqueid] = call
        return calls

    @classmethod
    def _ingest_context(cls, facts):
        "What a batch of facts refers to, looked up once for the batch."
        pool = Pool()
        Queue = pool.get('cc.queue')
        Agent = pool.get('cc.agent')
        interfaces = {leg['agent_interface']
            for f in facts for leg in f.get('legs') or []}
        queues = Queue.by_codes(f.get('queue') for f in facts)
        return {
            'queues': queues,
            'service_levels': {q.id: q.service_level_seconds
                for q in Queue.browse(list(queues.values()))},
            'agents': Agent.by_interface(interfaces),
            }

    @classmethod
    def _fact_values(cls, fact, context):
        Queue = Pool().get('cc.queue')
        queue_id = context['queues'].get(fact.get('queue'))
        values = cls._fact_common_values(fact, queue_id, context)
        if queue_id and fact.get('answer_time'):
            threshold = Queue(queue_id).service_level_seconds
            values['within_service_level'] = (
                values['wait_seconds'] <= threshold)
        values.update(cls._caller_values(
                fact.get('caller_raw'), fact.get('dnis'), fact['direction']))
        return values

    @classmethod
    def _fact_common_values(cls, fact, queue_id, context):
        "The values of a call fact that need no look-up of the caller."
        return {
            'linkedid': fact.get('linkedid'),
            'state': 'ended',
            'direction': fact['direction'],
            'dnis': fact.get('dnis') or None,
            'ivr_path': fact.get('ivr_path') or None,
            'queue': queue_id,
            'queue_code': fact.get('queue') or None,
            'enter_time': fact.get('enter_time'),
            'answer_time': fact.get('answer_time'),
            'end_time': fact.get('end_time'),
            'wait_seconds': round(float(fact.get('wait_seconds') or 0), 3),
            'result': fact.get('result'),
            'abandon_position': fact.get('abandon_position'),
            'recording': fact.get('recording') or None,
            'within_service_level': False,
            'agent': cls._handling_agent(fact, context),
            }

    @classmethod
    def _handling_agent(cls, fact, context):
        """The agent who last had the caller. The first answered leg has
        the caller until a later answered leg takes it over (``_took_over``):
        the target of a transfer, blind or attended, or whoever answers
        once the holder is gone. A party consulted and then let go
        (an attended transfer given up) never had the caller."""
        answered = sorted((leg for leg in fact.get('legs') or []
                if leg.get('answer_time')),
            key=lambda leg: leg['answer_time'])
        if not answered:
            return None
        holder = answered[0]
        for leg in answered[1:]:
            if cls._took_over(holder, leg):
                holder = leg
        return context['agents'].get(holder['agent_interface'])

    @staticmethod
    def _took_over(holder, leg):
        """Whether ``leg``, answered after ``holder``, took the caller from
        it: ``holder`` handed the caller over by a transfer while ``leg``
        was still up (the consulted target of an attended transfer talks
        before the hand-over), or ``holder`` had ended when ``leg``
        answered. Legs without an end are still up."""
        handed_over = holder.get('end_time')
        if handed_over is None:
            return False
        if leg['answer_time'] >= handed_over:
            return True
        ended = leg.get('end_time')
        return ((holder.get('result') or '').startswith('transferred')
            and (ended is None or ended >= handed_over))

    @classmethod
    def _caller_values(cls, caller_raw, dnis, direction):
        """Caller number, region and matching customers.

        On an outbound call the customer is the dialled number."""
        Caller = Pool().get('cc.caller')
        customer_raw = dnis if direction == 'outbound' else caller_raw
        values = {'caller_raw': caller_raw or None}
        caller = Caller.parse(caller_raw or '')
        values['caller_number'] = caller.e164
        values['caller_region'] = caller.region
        if direction == 'internal' or not customer_raw:
            values['candidates'] = [('add', [])]
            values['party'] = None
            return values
        customer = Caller.parse(customer_raw)
        party_ids = [row[0] for row in Caller.match_parties(customer.key)]
        values['candidates'] = [('add', party_ids)]
        values['party'] = party_ids[0] if len(party_ids) == 1 else None
        return values

    @classmethod
    def _update_totals(cls, calls):
        "Call figures are the sums of their legs' (wrap-up arrives late)."
        to_write = []
        for call in cls.browse(calls):
            values = changed_values(call, {
                    name: round(sum(getattr(leg, name) or 0
                            for leg in call.legs), 3)
                    for name in ('ring_seconds', 'talk_seconds',
                        'hold_seconds', 'wrapup_seconds')})
            if values:
                to_write.extend(([call], values))
        if to_write:
            cls.write(*to_write)

    @classmethod
    def update_totals_sql(cls, call_ids):
        "_update_totals with one aggregate query."
        Leg = Pool().get('cc.call.leg')
        names = ['ring_seconds', 'talk_seconds', 'hold_seconds',
            'wrapup_seconds']
        call_ids = list(call_ids)
        if not call_ids:
            return
        leg = Leg.__table__()
        cursor = Transaction().connection.cursor()
        sums = {}
        for chunk in grouped_slice(call_ids, 500):
            cursor.execute(*leg.select(leg.call,
                    *[Sum(Column(leg, n)) for n in names],
                    where=leg.call.in_(list(chunk)), group_by=[leg.call]))
            for call_id, *values in cursor:
                sums[call_id] = {n: round(float(v or 0), 3)
                    for n, v in zip(names, values)}
        changes = []
        for row in sql_select(cls, names, 'id', call_ids):
            values = row_changes(row, sums.get(row['id'],
                    dict.fromkeys(names, 0.0)))
            if values:
                changes.append((row['id'], values))
        sql_update(cls, changes)

    @classmethod
    def _link_interactions(cls, calls):
        "Create once, then keep up to date, the contact of each call."
        Interaction = Pool().get('cc.interaction')
        to_create, created_for, to_write = [], [], []
        for call in cls.browse(calls):
            if call.direction == 'internal':
                continue
            values = call._interaction_values()
            if call.interaction:
                values = changed_values(call.interaction, values)
                if values:
                    to_write.extend(([call.interaction], values))
            else:
                to_create.append(values)
                created_for.append(call)
        if to_write:
            Interaction.write(*to_write)
        if to_create:
            interactions = Interaction.create(to_create)
            cls.write(*sum((([c], {'interaction': i.id})
                        for c, i in zip(created_for, interactions)), ()))

    def _interaction_values(self):
        agent = self.agent
        number = self.caller_number
        if self.direction == 'outbound':
            number = self.dnis
        return {
            'channel': 'phone',
            'direction': self.direction,
            'start': self.enter_time or self.routed_at,
            'end': self.end_time,
            'party': self.party.id if self.party else None,
            'number': number,
            'agent': agent.user.id if agent and agent.user else None,
            'team': agent.team.id if agent and agent.team else None,
            'summary': self._interaction_summary(),
            'origin': str(self),
            }

    def _interaction_summary(self):
        parts = [self.result_string or '']
        if self.queue:
            parts.append(self.queue.rec_name)
        if self.ivr_path:
            parts.append(f'IVR {self.ivr_path}')
        return ' / '.join(p for p in parts if p)


class CallCandidate(ModelSQL):
    "Call Candidate Customer"
    __name__ = 'cc.call-party.party'
    __string__ = "Call Candidate Customer"
    call = fields.Many2One(
        'cc.call', "Call", required=True, ondelete='CASCADE')
    party = fields.Many2One(
        'party.party', "Party", required=True, ondelete='CASCADE')


class CallLeg(ModelSQL, ModelView):
    "Call Leg"
    __name__ = 'cc.call.leg'
    __string__ = "Call Leg"
    call = fields.Many2One(
        'cc.call', "Call", required=True, ondelete='CASCADE', readonly=True)
    agent = fields.Many2One(
        'cc.agent', "Agent", readonly=True, ondelete='SET NULL')
    interface = fields.Char("Interface", required=True, readonly=True)
    ring_start = fields.DateTime("Ring Start", required=True, readonly=True)
    answer_time = fields.DateTime("Answered At", readonly=True)
    end_time = fields.DateTime("Ended", readonly=True)
    ring_seconds = fields.Float("Ring (s)", digits=(16, 3), readonly=True)
    talk_seconds = fields.Float("Talk (s)", digits=(16, 3), readonly=True)
    hold_seconds = fields.Float("Hold (s)", digits=(16, 3), readonly=True)
    wrapup_seconds = fields.Float(
        "Wrap-up (s)", digits=(16, 3), readonly=True)
    result = fields.Selection(LEG_RESULTS, "Result", readonly=True)
    transfer_target = fields.Char("Transferred To", readonly=True)
    # The agent's own wrap-up of their part of the call (console.py).
    disposition = fields.Many2One(
        'cc.call.disposition', "Disposition", ondelete='RESTRICT',
        readonly=True)
    wrapup_note = fields.Text("Wrap-up Note", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('leg_unique', Unique(t, t.call, t.interface, t.ring_start),
                'cc_telephony.msg_call_leg_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.agent, Index.Range()),
                    (t.answer_time, Index.Range())),
                # An agent's wrap-up interval starts when a leg ends.
                Index(t, (t.interface, Index.Equality()),
                    (t.end_time, Index.Range())),
                })
        cls._order = [('ring_start', 'ASC'), ('id', 'ASC')]

    @classmethod
    def sync(cls, call, legs, context):
        """Make the call's legs those of the fact.

        Legs are matched on (interface, ring start) so a repeated fact
        changes nothing and a corrected one updates in place."""
        current = {(leg.interface, leg.ring_start): leg for leg in call.legs}
        wanted = {}
        for leg in legs:
            values = cls.leg_values(leg, context)
            wanted[(leg['agent_interface'], leg['ring_start'])] = values
        to_create, to_write = [], []
        for key, values in wanted.items():
            record = current.pop(key, None)
            if record is None:
                values.update({
                        'call': call.id,
                        'interface': key[0],
                        'ring_start': key[1],
                        'wrapup_seconds': 0.0,
                        })
                to_create.append(values)
            else:
                values = changed_values(record, values)
                if values:
                    to_write.extend(([record], values))
        if current:
            cls.delete(list(current.values()))
        if to_write:
            cls.write(*to_write)
        if to_create:
            created = cls.create(to_create)
            cls.link_wrapups(created)

    @classmethod
    def leg_values(cls, leg, context):
        "The values of a leg of a call fact (its key apart)."
        return {
            'agent': context['agents'].get(leg['agent_interface']),
            'answer_time': leg.get('answer_time'),
            'end_time': leg.get('end_time'),
            'ring_seconds': round(float(leg.get('ring_seconds') or 0), 3),
            'talk_seconds': round(float(leg.get('talk_seconds') or 0), 3),
            'hold_seconds': round(float(leg.get('hold_seconds') or 0), 3),
            'result': leg.get('result'),
            'transfer_target': leg.get('transfer_target') or None,
            }

    @classmethod
    def fact_legs(cls, fact, context, current, wrapups):
        """{(interface, ring start): values} the call's legs must have.

        A leg already stored keeps its wrap-up; a new one takes it from
        the interval that began as the leg ended (``wrapups``)."""
        wanted = {}
        for leg in fact.get('legs') or []:
            key = (leg['agent_interface'], leg['ring_start'])
            values = cls.leg_values(leg, context)
            if key in current:
                values['wrapup_seconds'] = current[key]['wrapup_seconds']
            elif values['answer_time'] and values['end_time']:
                values['wrapup_seconds'] = wrapups.get(
                    (key[0], values['end_time']), 0.0)
            else:
                values['wrapup_seconds'] = 0.0
            wanted[key] = values
        return wanted

    @classmethod
    def wrapup_lengths(cls, ends):
        """{(interface, start): seconds} of the wrap-up intervals that began
        at the given (interface, leg end) pairs: one query per batch."""
        State = Pool().get('cc.agent.state')
        ends = set(ends)
        lengths = {}
        for row in sql_select(State, ['interface', 'start',
                    'duration_seconds'], 'interface', {i for i, _ in ends},
                where=lambda t: (t.state == 'wrap_up') & t.start.in_(
                    list({e for _, e in ends}))):
            key = (row['interface'], row['start'])
            if key in ends:
                lengths.setdefault(key, row['duration_seconds'])
        return lengths

    @classmethod
    def store_fact_legs(cls, calls):
        """Make each call's legs the wanted ones: ``calls`` is {call id:
        (wanted, current)} as fact_legs and the stored rows give them."""
        to_create, changes, obsolete = [], [], []
        for call_id, (wanted, current) in calls.items():
            for key, values in wanted.items():
                row = current.get(key)
                if row is None:
                    to_create.append(dict(values, call=call_id,
                            interface=key[0], ring_start=key[1]))
                    continue
                values = row_changes(row, values)
                if values:
                    changes.append((row['id'], values))
            obsolete += [r['id'] for k, r in current.items()
                if k not in wanted]
        if obsolete:
            cls.delete(cls.browse(obsolete))
        sql_update(cls, changes)
        sql_insert(cls, ['call', 'interface', 'ring_start']
            + Pool().get('cc.call').LEG_COLUMNS, to_create)

    @classmethod
    def give_wrapups_sql(cls, wrapups):
        """Give each wrap-up (dicts with interface, start and
        duration_seconds) to the answered leg that ended as it began, then
        sum the legs of the calls changed."""
        Call = Pool().get('cc.call')
        lengths = {(w['interface'], w['start']): w['duration_seconds']
            for w in wrapups}
        if not lengths:
            return
        changes = []
        for row in sql_select(cls, ['call', 'interface', 'end_time',
                    'wrapup_seconds'], 'interface',
                {i for i, _ in lengths},
                where=lambda t: (t.answer_time != Null) & t.end_time.in_(
                    list({s for _, s in lengths}))):
            length = lengths.get((row['interface'], row['end_time']))
            if length is not None and differs(row['wrapup_seconds'], length):
                changes.append((row['id'], {'wrapup_seconds': length},
                        row['call']))
        sql_update(cls, [c[:2] for c in changes])
        Call.update_totals_sql({c[2] for c in changes})

    @classmethod
    def link_wrapups(cls, legs):
        "Take the wrap-up of an agent's interval that began as the leg ended."
        State = Pool().get('cc.agent.state')
        to_write = []
        for leg in legs:
            if not leg.answer_time or not leg.end_time:
                continue
            states = State.search([
                    ('interface', '=', leg.interface),
                    ('state', '=', 'wrap_up'),
                    ('start', '=', leg.end_time),
                    ], limit=1)
            if states and states[0].duration_seconds != leg.wrapup_seconds:
                to_write.extend(
                    ([leg], {'wrapup_seconds': states[0].duration_seconds}))
        if to_write:
            cls.write(*to_write)


class Interaction(metaclass=PoolMeta):
    __name__ = 'cc.interaction'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['cc.call']
