"""SLA policies and the per-ticket timers that the cron evaluates."""
import datetime as dt

from sql import Column, Null

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, MatchMixin, ModelSQL, ModelView, fields,
    sequence_ordered)
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from trytond.modules.cc_base import sla_clock
from trytond.modules.cc_base.sla_clock import SLAClock

PRIORITIES = [
    ('0', "Low"),
    ('1', "Normal"),
    ('2', "High"),
    ('3', "Urgent"),
    ]
TIMER_KINDS = [
    ('first_response', "First Response"),
    ('resolution', "Resolution"),
    ('follow_up', "Follow-up"),
    ]
SLA_STATUSES = [
    (None, ""),
    (sla_clock.ON_TIME, "On Time"),
    (sla_clock.WARNING, "Warning"),
    (sla_clock.BREACHED, "Breached"),
    (sla_clock.PAUSED, "Paused"),
    (sla_clock.MET, "Met"),
    ]
# Worst first: a ticket shows the worst status of its timers.
STATUS_RANK = {
    sla_clock.BREACHED: 5, sla_clock.WARNING: 4, sla_clock.ON_TIME: 3,
    sla_clock.PAUSED: 2, sla_clock.MET: 1, None: 0}
# Ids per query when the SLA code reads or writes many rows by id.
SQL_BATCH = 1000
# Rows from which bulk_update goes through COPY on PostgreSQL.
COPY_ABOVE = 200
# Escalation levels reached by a timer.
NOT_ESCALATED, OWNER_WARNED, LEADER_ESCALATED, MANAGER_ESCALATED = range(4)
# What the SLA pass reads of a timer: enough to rebuild its clock and
# decide its escalation without loading the record through the ORM.
STATE_COLUMNS = (
    'id', 'ticket', 'kind', 'calendar', 'target_minutes', 'warning_share',
    'manager_minutes', 'elapsed', 'running_since', 'stopped', 'warning_date',
    'deadline', 'breach_date', 'status', 'escalation_level')


def build_clock(engine, state):
    "The SLA clock of a timer's stored state (a mapping of STATE_COLUMNS)."
    return SLAClock(
        engine, state['target_minutes'],
        warning_share=state['warning_share'] or 0.8,
        elapsed=state['elapsed'] or dt.timedelta(0),
        running_since=state['running_since'],
        stopped=bool(state['stopped']))


def clock_values(engine, state, clock, now):
    "Column values describing the clock's state at ``now``."
    status = clock.status(now)
    values = {
        'elapsed': clock.elapsed,
        'running_since': clock.running_since,
        'stopped': clock.stopped,
        'status': status,
        'warning_date': clock.warning_at() or state['warning_date'],
        'deadline': clock.deadline() or state['deadline'],
        'next_deadline': clock.next_deadline(now),
        }
    if status == sla_clock.BREACHED:
        values['breach_date'] = state['breach_date'] or min(
            now, clock.deadline() or now)
        if (state['manager_minutes']
                and (state['escalation_level'] or 0) < MANAGER_ESCALATED):
            # One more step of the chain remains: the manager.
            values['next_deadline'] = max(now, engine.add_business_minutes(
                    values['breach_date'], state['manager_minutes']))
    return values


def escalation_level(engine, state, values, now):
    "Level of the chain the timer has reached with its new ``values``."
    status = values['status']
    if status == sla_clock.WARNING:
        return OWNER_WARNED
    if status == sla_clock.BREACHED:
        if (state['manager_minutes'] and values.get('breach_date')
                and engine.add_business_minutes(
                    values['breach_date'], state['manager_minutes']) <= now):
            return MANAGER_ESCALATED
        return LEADER_ESCALATED
    return state['escalation_level'] or NOT_ESCALATED


def bulk_update(Model, records, rows):
    """Write derived columns of many records with one prepared UPDATE.

    The SLA pass rewrites a few clock columns on every due timer; the ORM's
    per-record write, validation and triggers cost far more than the
    evaluation itself, and these columns are never edited by users. The
    caches are cleaned as ``ModelStorage.write`` does.
    ``records`` are records or ids; ``rows`` are dictionaries of column
    values, one per record.
    """
    if not records:
        return
    transaction = Transaction()
    cursor = transaction.connection.cursor()
    table = Model.__table__()
    now = dt.datetime.now()
    by_columns = {}
    for record, values in zip(records, rows):
        by_columns.setdefault(tuple(sorted(values)), []).append(
            (record, values))
    for names, items in by_columns.items():
        fields_ = [Model._fields[n] for n in names]
        params = [
            [f.sql_format(values[f.name]) for f in fields_]
            + [now, transaction.user, getattr(record, 'id', record)]
            for record, values in items]
        if backend.name == 'postgresql' and len(params) > COPY_ABOVE:
            _update_by_copy(cursor, Model._table,
                list(names) + ['write_date', 'write_uid'], params)
            continue
        columns = [Column(table, n) for n in names] + [
            table.write_date, table.write_uid]
        query = table.update(
            columns, [0] * len(columns), where=table.id == 0)
        sql, _ = tuple(query)
        cursor.executemany(sql, params)
    transaction.counter += 1
    ids = [getattr(r, 'id', r) for r in records]
    for record in records:
        if not isinstance(record, int):
            record._local_cache.pop(record.id, None)
    for cache in transaction.cache.values():
        if Model.__name__ in cache:
            for id_ in ids:
                cache[Model.__name__].pop(id_, None)


def _update_by_copy(cursor, table, columns, params):
    """UPDATE rows by id from a temporary table filled with COPY
    (PostgreSQL): one join instead of one statement per row. Each row of
    ``params`` holds the values of ``columns`` then the id."""
    temp = '_cc_bulk_%s' % table
    names = ', '.join('"%s"' % c for c in columns + ['id'])
    cursor.execute('CREATE TEMPORARY TABLE "%s" ON COMMIT DROP AS '
        'SELECT %s FROM "%s" WITH NO DATA' % (temp, names, table))
    with cursor.copy('COPY "%s" (%s) FROM STDIN' % (temp, names)) as copy:
        for row in params:
            copy.write_row(row)
    cursor.execute('UPDATE "%s" AS t SET %s FROM "%s" AS s '
        'WHERE t.id = s.id' % (table,
            ', '.join('"%s" = s."%s"' % (c, c) for c in columns), temp))
    cursor.execute('DROP TABLE "%s"' % temp)


class Policy(DeactivableMixin, sequence_ordered(), MatchMixin, ModelSQL,
        ModelView):
    __string__ = "SLA Policy"
    __name__ = 'cc.sla.policy'
    name = fields.Char("Name", required=True, translate=True)
    ticket_type = fields.Many2One(
        'cc.ticket.type', "Ticket Type", ondelete='CASCADE',
        help="Matches the type and its sub-types; empty matches any.")
    priority = fields.Selection(
        [(None, "")] + PRIORITIES, "Priority", sort=False)
    tier = fields.Many2One(
        'cc.customer.tier', "Customer Tier", ondelete='CASCADE')
    channel = fields.Selection('get_channels', "Channel")
    calendar = fields.Many2One(
        'cc.calendar', "Calendar", ondelete='RESTRICT',
        help="Empty: the team's calendar, else the configured default.")
    first_response_minutes = fields.Integer(
        "First Response (business minutes)",
        domain=['OR', ('first_response_minutes', '=', None),
            ('first_response_minutes', '>', 0)])
    resolution_minutes = fields.Integer(
        "Resolution (business minutes)",
        domain=['OR', ('resolution_minutes', '=', None),
            ('resolution_minutes', '>', 0)])
    follow_up_minutes = fields.Integer(
        "Follow-up (business minutes)",
        domain=['OR', ('follow_up_minutes', '=', None),
            ('follow_up_minutes', '>', 0)],
        help="Time allowed for the follow-up visit after resolution.")
    warning_share = fields.Float(
        "Warning at", required=True, digits=(1, 2),
        domain=[('warning_share', '>', 0), ('warning_share', '<=', 1)],
        help="Share of the target after which the owner is warned "
        "(0.8 = 80 %).")
    manager_minutes = fields.Integer(
        "Manager Escalation after Breach (business minutes)",
        help="Business minutes after a breach before the team manager is "
        "notified; empty: never.")

    @classmethod
    def get_channels(cls):
        Interaction = Pool().get('cc.interaction')
        return [(None, "")] + Interaction.fields_get(
            ['channel'])['channel']['selection']

    @classmethod
    def default_warning_share(cls):
        return 0.8

    @classmethod
    def default_follow_up_minutes(cls):
        return 24 * 60

    def match(self, pattern, match_none=False):
        pattern = pattern.copy()
        ticket_type = pattern.pop('ticket_type', None)
        if self.ticket_type:
            type_ = ticket_type
            while type_ and type_ != self.ticket_type:
                type_ = type_.parent
            if not type_:
                return False
        return super().match(pattern, match_none=match_none)

    @classmethod
    def find(cls, pattern, policies=None):
        """First policy (by sequence) matching the pattern, or None.

        ``policies``: the result of ``search([])`` when the caller matches
        many patterns (a batch of tickets) and must not search each time."""
        if policies is None:
            policies = cls.search([])
        for policy in policies:
            if policy.match(pattern):
                return policy

    def target(self, kind):
        return getattr(self, f'{kind}_minutes')


class Timer(ModelSQL, ModelView):
    __string__ = "Ticket SLA Timer"
    __name__ = 'cc.ticket.sla'
    ticket = fields.Many2One(
        'cc.ticket', "Ticket", required=True, ondelete='CASCADE')
    kind = fields.Selection(TIMER_KINDS, "Kind", required=True, readonly=True)
    kind_string = kind.translated('kind')
    policy = fields.Many2One(
        'cc.sla.policy', "Policy", readonly=True, ondelete='SET NULL')
    calendar = fields.Many2One(
        'cc.calendar', "Calendar", readonly=True, ondelete='RESTRICT')
    target_minutes = fields.Integer("Target (minutes)", readonly=True)
    warning_share = fields.Float("Warning at", readonly=True)
    manager_minutes = fields.Integer("Manager Escalation", readonly=True)
    elapsed = fields.TimeDelta(
        "Elapsed", readonly=True,
        help="Business time counted while the clock was running, up to the "
        "last pause or evaluation start.")
    running_since = fields.DateTime("Running Since", readonly=True)
    stopped = fields.Boolean("Stopped", readonly=True)
    warning_date = fields.DateTime("Warning", readonly=True)
    deadline = fields.DateTime("Deadline", readonly=True)
    breach_date = fields.DateTime("Breached", readonly=True)
    next_deadline = fields.DateTime(
        "Next Evaluation", readonly=True,
        help="When the cron must look at the timer again; empty when "
        "nothing can change without a state change of the ticket.")
    status = fields.Selection(SLA_STATUSES, "Status", readonly=True)
    escalation_level = fields.Integer(
        "Escalation Level", readonly=True,
        help="0: none, 1: owner warned, 2: team leader, 3: manager.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                # The cron pass reads only due timers through this index.
                Index(t, (t.next_deadline, Index.Range()),
                    where=t.next_deadline != Null),
                Index(t, (t.ticket, Index.Equality()),
                    (t.kind, Index.Equality())),
                })
        cls._order = [('ticket', 'DESC'), ('kind', 'ASC'), ('id', 'ASC')]

    @classmethod
    def default_elapsed(cls):
        return dt.timedelta(0)

    @classmethod
    def default_stopped(cls):
        return False

    @classmethod
    def default_escalation_level(cls):
        return NOT_ESCALATED

    def get_rec_name(self, name):
        return '%s: %s' % (self.ticket.rec_name, self.kind_string)

    # -- engine ----------------------------------------------------------
    @property
    def engine(self):
        return Pool().get('cc.calendar').engine(
            self.calendar.id if self.calendar else None)

    def _state(self):
        "The timer's columns as the pure functions above take them."
        state = {}
        for name in STATE_COLUMNS:
            value = getattr(self, name, None)
            state[name] = value.id if isinstance(value, ModelSQL) else value
        return state

    def clock(self):
        return build_clock(self.engine, self._state())

    def _clock_values(self, clock, now):
        "Column values describing the clock's state at ``now``."
        return clock_values(self.engine, self._state(), clock, now)

    @classmethod
    def create_for(cls, ticket, kinds, now):
        "Start timers of the given kinds as the ticket's policy says."
        return cls.create_for_tickets([ticket], kinds, now)

    @classmethod
    def create_for_tickets(cls, tickets, kinds, now):
        """Start the timers of many tickets with one policy search and one
        create; returns the timers in ticket order, then kind order.

        The clocks of tickets sharing policy, calendar and target are the
        same at ``now``, so each distinct clock is computed once."""
        Policy = Pool().get('cc.sla.policy')
        policies = Policy.search([])
        targets = {}
        computed = {}
        vlist = []
        for ticket in tickets:
            policy = ticket.sla_policy(policies)
            calendar = ticket.sla_calendar(policy)
            for kind in kinds:
                if policy:
                    target = policy.target(kind)
                else:
                    if kind not in targets:
                        targets[kind] = ticket.fallback_target(kind)
                    target = targets[kind]
                if not target:
                    continue
                timer = cls(
                    ticket=ticket, kind=kind, policy=policy,
                    calendar=calendar, target_minutes=target,
                    warning_share=policy.warning_share if policy else 0.8,
                    manager_minutes=(
                        policy.manager_minutes if policy else None),
                    elapsed=dt.timedelta(0), stopped=False,
                    running_since=None, warning_date=None, deadline=None,
                    breach_date=None, escalation_level=NOT_ESCALATED)
                key = (calendar.id if calendar else None, target,
                    timer.warning_share, timer.manager_minutes)
                if key not in computed:
                    clock = timer.clock()
                    clock.start(now)
                    computed[key] = timer._clock_values(clock, now)
                for name, value in computed[key].items():
                    setattr(timer, name, value)
                vlist.append(timer)
        cls.save(vlist)
        return vlist

    @classmethod
    def apply(cls, timers, action, now):
        """Run ``action`` ('pause', 'resume', 'stop', 'reopen' or None to
        re-evaluate) on each timer's clock at ``now`` and store the result."""
        to_write = []
        for timer in timers:
            clock = timer.clock()
            if action == 'resume' and clock.stopped:
                continue
            if action:
                getattr(clock, action)(now)
            to_write.extend(([timer], timer._clock_values(clock, now)))
        if to_write:
            cls.write(*to_write)

    @classmethod
    def retarget(cls, timers, policy, calendar, now):
        """Move running timers to a new policy keeping the time already
        counted (a re-classified ticket must not restart its clock)."""
        for timer in timers:
            if timer.stopped:
                continue
            target = policy.target(timer.kind) if policy else (
                timer.ticket.fallback_target(timer.kind))
            if not target:
                continue
            clock = timer.clock()
            clock.pause(now)
            running = timer.running_since is not None
            timer.policy, timer.calendar = policy, calendar
            timer.target_minutes = target
            timer.warning_share = policy.warning_share if policy else 0.8
            timer.manager_minutes = policy.manager_minutes if policy else None
            timer.elapsed, timer.running_since = clock.elapsed, None
            clock = timer.clock()
            if running:
                clock.resume(now)
            for name, value in timer._clock_values(clock, now).items():
                setattr(timer, name, value)
        cls.save(timers)

    # -- cron ------------------------------------------------------------
    @classmethod
    def due_domain(cls, now):
        return [('next_deadline', '<=', now)]

    @classmethod
    def _due_query(cls, now, limit=None):
        "SQL and parameters reading due timers through the partial index."
        table = cls.__table__()
        return tuple(table.select(
                *[Column(table, c) for c in STATE_COLUMNS],
                where=table.next_deadline <= now,
                order_by=[table.next_deadline.asc, table.id.asc],
                limit=limit))

    @classmethod
    def evaluate(cls, now=None, limit=None):
        """Evaluate the timers whose next deadline has come, escalate and
        notify; returns the number of timers evaluated.

        Set-based: one query through the ``next_deadline`` index reads the
        due timers' columns, the pure SLA clock computes their new state,
        one prepared UPDATE stores it and the escalations are notified per
        batch. Loading each due timer through the ORM cost milliseconds,
        which at 10^6 open tickets ate the pass's budget."""
        if now is None:
            now = dt.datetime.now()
        cursor = Transaction().connection.cursor()
        cursor.execute(*cls._due_query(now, limit))
        states = [dict(zip(STATE_COLUMNS, row)) for row in cursor]
        cls._evaluate_states(states, now)
        return len(states)

    @classmethod
    def evaluate_timers(cls, timers, now):
        "Evaluate the given timers now, whether due or not."
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        states = []
        for sub in grouped_slice([t.id for t in timers], SQL_BATCH):
            cursor.execute(*table.select(
                    *[Column(table, c) for c in STATE_COLUMNS],
                    where=fields.SQL_OPERATORS['in'](table.id, list(sub))))
            states.extend(dict(zip(STATE_COLUMNS, row)) for row in cursor)
        cls._evaluate_states(states, now)

    @classmethod
    def _evaluate_states(cls, states, now):
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        Calendar = pool.get('cc.calendar')
        engines = {}
        records, rows, escalations = [], [], []
        for state in states:
            calendar_id = state['calendar']
            if calendar_id not in engines:
                engines[calendar_id] = Calendar.engine(calendar_id)
            engine = engines[calendar_id]
            values = clock_values(
                engine, state, build_clock(engine, state), now)
            level = escalation_level(engine, state, values, now)
            if level > (state['escalation_level'] or NOT_ESCALATED):
                values['escalation_level'] = level
                escalations.append((state, values, level))
                if level == MANAGER_ESCALATED:
                    values['next_deadline'] = None
            records.append(state['id'])
            rows.append(values)
        bulk_update(cls, records, rows)
        cls.escalate(escalations)
        Ticket.update_sla_status(sorted({s['ticket'] for s in states}))

    @classmethod
    def escalate(cls, escalations):
        """Notify the next people of the chain owner → team leader →
        manager for each ``(state, values, level)`` of the pass."""
        from .gateway import Notifier
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        Team = pool.get('cc.team')
        User = pool.get('res.user')
        if not escalations:
            return
        ticket, team = Ticket.__table__(), Team.__table__()
        cursor = Transaction().connection.cursor()
        in_ = fields.SQL_OPERATORS['in']
        # Plain SQL for what the messages need of each ticket: reading
        # thousands of tickets through the ORM cost more than the pass.
        people = {}
        for sub in grouped_slice(
                sorted({s['ticket'] for s, _, _ in escalations}), SQL_BATCH):
            cursor.execute(*ticket.join(team, 'LEFT',
                    condition=team.id == ticket.team).select(
                    ticket.id, ticket.number, ticket.subject, ticket.owner,
                    team.leader, team.manager,
                    where=in_(ticket.id, list(sub))))
            for id_, number, subject, owner, leader, manager in cursor:
                people[id_] = (Ticket.format_rec_name(number, subject),
                    owner, leader, manager)
        users = {u.id: u for u in User.browse(sorted({
                        u for _, *chain in people.values() for u in chain
                        if u}))}
        kinds = dict(cls.fields_get(['kind'])['kind']['selection'])
        # Each message translated once with its placeholders kept, then
        # filled per ticket: thousands of gettext calls cost a tenth of
        # the pass.
        templates = {level: gettext(message,
                ticket='%(ticket)s', kind='%(kind)s', deadline='%(deadline)s')
            for level, message in [
                (OWNER_WARNED, 'cc_ticket.msg_sla_warning'),
                (LEADER_ESCALATED, 'cc_ticket.msg_sla_breached'),
                (MANAGER_ESCALATED, 'cc_ticket.msg_sla_manager'),
                ]}
        messages = []
        for state, values, level in escalations:
            rec_name, owner, leader, manager = people[state['ticket']]
            recipients = {owner}
            if level >= LEADER_ESCALATED:
                recipients.add(leader)
            if level >= MANAGER_ESCALATED:
                recipients.add(manager)
            recipients.discard(None)
            if not recipients:
                continue
            deadline = values.get('deadline')
            deadline = deadline.replace(microsecond=0) if deadline else ''
            messages.append((
                    [users[u] for u in sorted(recipients)], state['ticket'],
                    templates[level] % {
                        'ticket': rec_name,
                        'kind': kinds.get(state['kind'], state['kind']),
                        'deadline': deadline,
                        },
                    level >= LEADER_ESCALATED))
        Notifier.notify_many(Ticket, messages)


class Team(metaclass=PoolMeta):
    __name__ = 'cc.team'
    cc_calendar = fields.Many2One(
        'cc.calendar', "Business Calendar", ondelete='RESTRICT',
        help="Calendar of the team's SLA targets when the policy has none.")


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('cc.ticket.sla|evaluate', "Evaluate Ticket SLA Timers"))
