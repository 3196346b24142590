"""SLA policies and the per-ticket timers that the cron evaluates."""
import datetime as dt

from sql import Column, Null

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, MatchMixin, ModelSQL, ModelView, fields,
    sequence_ordered)
from trytond.pool import Pool, PoolMeta
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
# Escalation levels reached by a timer.
NOT_ESCALATED, OWNER_WARNED, LEADER_ESCALATED, MANAGER_ESCALATED = range(4)


def bulk_update(Model, records, rows):
    """Write derived columns of many records with one prepared UPDATE.

    The SLA pass rewrites a few clock columns on every due timer; the ORM's
    per-record write, validation and triggers cost far more than the
    evaluation itself, and these columns are never edited by users. The
    caches are cleaned as ``ModelStorage.write`` does.
    ``rows`` are dictionaries of column values, one per record.
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
        columns = [Column(table, n) for n in names] + [
            table.write_date, table.write_uid]
        query = table.update(
            columns, [0] * len(columns), where=table.id == 0)
        sql, _ = tuple(query)
        fields_ = [Model._fields[n] for n in names]
        cursor.executemany(sql, [
                [f.sql_format(values[f.name]) for f in fields_]
                + [now, transaction.user, record.id]
                for record, values in items])
    transaction.counter += 1
    for record in records:
        record._local_cache.pop(record.id, None)
    for cache in transaction.cache.values():
        if Model.__name__ in cache:
            for record in records:
                cache[Model.__name__].pop(record.id, None)


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
    def find(cls, pattern):
        "First policy (by sequence) matching the pattern, or None."
        for policy in cls.search([]):
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

    def clock(self):
        return SLAClock(
            self.engine, self.target_minutes,
            warning_share=self.warning_share or 0.8,
            elapsed=self.elapsed or dt.timedelta(0),
            running_since=self.running_since, stopped=bool(self.stopped))

    def _clock_values(self, clock, now):
        "Column values describing the clock's state at ``now``."
        status = clock.status(now)
        values = {
            'elapsed': clock.elapsed,
            'running_since': clock.running_since,
            'stopped': clock.stopped,
            'status': status,
            'warning_date': clock.warning_at() or self.warning_date,
            'deadline': clock.deadline() or self.deadline,
            'next_deadline': clock.next_deadline(now),
            }
        if status == sla_clock.BREACHED:
            values['breach_date'] = self.breach_date or min(
                now, clock.deadline() or now)
            if (self.manager_minutes
                    and self.escalation_level < MANAGER_ESCALATED):
                # One more step of the chain remains: the manager.
                values['next_deadline'] = max(now, self.engine
                    .add_business_minutes(
                        values['breach_date'], self.manager_minutes))
        return values

    @classmethod
    def create_for(cls, ticket, kinds, now):
        "Start timers of the given kinds as the ticket's policy says."
        policy = ticket.sla_policy()
        calendar = ticket.sla_calendar(policy)
        vlist = []
        for kind in kinds:
            target = policy.target(kind) if policy else ticket.fallback_target(
                kind)
            if not target:
                continue
            timer = cls(
                ticket=ticket, kind=kind, policy=policy, calendar=calendar,
                target_minutes=target,
                warning_share=policy.warning_share if policy else 0.8,
                manager_minutes=policy.manager_minutes if policy else None,
                elapsed=dt.timedelta(0), stopped=False, running_since=None,
                warning_date=None, deadline=None, breach_date=None,
                escalation_level=NOT_ESCALATED)
            clock = timer.clock()
            clock.start(now)
            for name, value in timer._clock_values(clock, now).items():
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
    def evaluate(cls, now=None, limit=None):
        """Evaluate the timers whose next deadline has come, escalate and
        notify; returns the number of timers evaluated. Only due timers are
        read, through the ``next_deadline`` index."""
        if now is None:
            now = dt.datetime.now()
        timers = cls.search(
            cls.due_domain(now), order=[('next_deadline', 'ASC')],
            limit=limit)
        cls.evaluate_timers(timers, now)
        return len(timers)

    @classmethod
    def evaluate_timers(cls, timers, now):
        Ticket = Pool().get('cc.ticket')
        rows, escalations = [], []
        for timer in timers:
            values = timer._clock_values(timer.clock(), now)
            level = timer._escalation_level(values, now)
            if level > timer.escalation_level:
                values['escalation_level'] = level
                escalations.append((timer, level))
                if level == MANAGER_ESCALATED:
                    values['next_deadline'] = None
            rows.append(values)
        bulk_update(cls, timers, rows)
        for timer, level in escalations:
            timer.escalate(level)
        Ticket.update_sla_status(list({t.ticket for t in timers}))

    def _escalation_level(self, values, now):
        status = values['status']
        if status == sla_clock.WARNING:
            return OWNER_WARNED
        if status == sla_clock.BREACHED:
            if (self.manager_minutes and values.get('breach_date')
                    and self.engine.add_business_minutes(
                        values['breach_date'], self.manager_minutes) <= now):
                return MANAGER_ESCALATED
            return LEADER_ESCALATED
        return self.escalation_level

    def escalate(self, level):
        "Notify the next people of the chain owner → team leader → manager."
        from .gateway import Notifier
        ticket = self.ticket
        team = ticket.team
        users = {ticket.owner}
        if level >= LEADER_ESCALATED and team:
            users.add(team.leader)
        if level >= MANAGER_ESCALATED and team:
            users.add(team.manager)
        users.discard(None)
        if not users:
            return
        message = {
            OWNER_WARNED: 'cc_ticket.msg_sla_warning',
            LEADER_ESCALATED: 'cc_ticket.msg_sla_breached',
            MANAGER_ESCALATED: 'cc_ticket.msg_sla_manager',
            }[level]
        deadline = self.deadline.replace(microsecond=0) if self.deadline else ''
        Notifier.notify(
            sorted(users, key=lambda u: u.id), [ticket],
            gettext(message, ticket=ticket.rec_name, kind=self.kind_string,
                deadline=deadline),
            urgent=level >= LEADER_ESCALATED)


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
