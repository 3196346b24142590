"""The ticket (工单): life cycle, SLA timers, second contacts."""
import datetime as dt

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Workflow, fields)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, PYSONEncoder
from trytond.rpc import RPC
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import StateAction, Wizard

from .common import visible_in
from .sla import (
    PRIORITIES, SQL_BATCH, SLA_STATUSES, STATUS_RANK, bulk_update)

STATES = [
    ('new', "New"),
    ('accepted', "Accepted"),
    ('dispatched', "Dispatched"),
    ('in_progress', "In Progress"),
    ('waiting_customer', "Waiting for Customer"),
    ('waiting_third_party', "Waiting for Third Party"),
    ('resolved', "Resolved"),
    ('follow_up', "Follow-up"),
    ('closed', "Closed"),
    ]
WAITING = {'waiting_customer', 'waiting_third_party'}
DONE = {'resolved', 'follow_up', 'closed'}
# Fields whose change may select another SLA policy or calendar.
SLA_FIELDS = {'type', 'priority', 'tier', 'channel', 'team'}
# Tickets per chunk of a large create (see Ticket.create).
CREATE_CHUNK = 100
# Columns maintained by the workflow and the SLA pass, never by users.
DERIVED_FIELDS = {
    'sla_status', 'state', 'accept_date', 'resolve_date', 'close_date',
    'resolution_minutes', 'reopen_count', 'related_ticket', 'second_contact'}


class Ticket(Workflow, ModelSQL, ModelView):
    __string__ = "Ticket"
    __name__ = 'cc.ticket'
    _rec_name = 'number'
    _states = {'readonly': Eval('state') == 'closed'}

    number = fields.Char("Number", readonly=True)
    subject = fields.Char("Subject", required=True, states=_states)
    type = fields.Many2One(
        'cc.ticket.type', "Type", required=True, ondelete='RESTRICT',
        states=_states)
    kind = fields.Function(fields.Selection('get_kinds', "Kind"), 'get_kind')
    channel = fields.Selection(
        'get_channels', "Channel", required=True, states=_states)
    priority = fields.Selection(
        PRIORITIES, "Priority", required=True, sort=False, states=_states)
    party = fields.Many2One(
        'party.party', "Customer", ondelete='RESTRICT', states=_states)
    tier = fields.Many2One(
        'cc.customer.tier', "Tier", ondelete='SET NULL', readonly=True,
        help="The customer's tier when the ticket was opened.")
    contact_number = fields.Char("Contact Number", states=_states)
    description = fields.Text("Description", states=_states)
    answer = fields.Text("Answer", states=_states,
        help="What the customer was told; canned replies insert agreed "
        "wording here.")
    canned_reply = fields.Function(fields.Many2One(
            'cc.ticket.canned_reply', "Insert Canned Reply",
            domain=['OR',
                ('ticket_type', '=', None),
                ('ticket_type', '=', Eval('type', -1)),
                ],
            states=_states),
        'get_canned_reply', setter='set_canned_reply')
    interactions = fields.One2Many(
        'cc.interaction', 'origin', "Contacts", states=_states)
    attachments = fields.One2Many(
        'ir.attachment', 'resource', "Attachments")
    team = fields.Many2One(
        'cc.team', "Team", ondelete='RESTRICT', states=_states)
    owner = fields.Many2One(
        'res.user', "Owner", ondelete='RESTRICT', states=_states)
    department = fields.Many2One(
        'cc.department', "Department", ondelete='RESTRICT',
        states={'readonly': ~Eval('state').in_(['accepted', 'in_progress'])},
        help="Back office the ticket is (to be) dispatched to.")
    dispatches = fields.One2Many(
        'cc.ticket.dispatch', 'ticket', "Dispatches", readonly=True)
    state = fields.Selection(STATES, "State", readonly=True, required=True,
        sort=False)
    state_string = state.translated('state')
    history = fields.One2Many(
        'cc.ticket.history', 'ticket', "History", readonly=True)
    timers = fields.One2Many(
        'cc.ticket.sla', 'ticket', "SLA Timers", readonly=True)
    sla_status = fields.Selection(
        SLA_STATUSES, "SLA", readonly=True,
        help="Worst status of the ticket's SLA timers.")
    resolution_deadline = fields.Function(
        fields.DateTime("Resolution Due"), 'get_deadline')
    related_ticket = fields.Many2One(
        'cc.ticket', "First Ticket", readonly=True, ondelete='SET NULL',
        help="Open ticket this one repeats (二次受理).")
    second_contact = fields.Boolean("Second Contact", readonly=True)
    second_contacts = fields.One2Many(
        'cc.ticket', 'related_ticket', "Second Contacts", readonly=True)
    duplicates = fields.Function(fields.Many2Many(
            'cc.ticket', None, None, "Possible Duplicates",
            help="Open tickets of the same customer or number within the "
            "second-contact window."),
        'on_change_with_duplicates')
    reopen_count = fields.Integer("Reopened", readonly=True)
    accept_date = fields.DateTime("Accepted", readonly=True)
    resolve_date = fields.DateTime("Resolved", readonly=True)
    close_date = fields.DateTime("Closed", readonly=True)
    resolution_minutes = fields.Float(
        "Resolution Time (business minutes)", readonly=True, digits=(16, 1),
        help="Business time the resolution clock ran (pauses excluded).")
    compensations = fields.One2Many(
        'cc.ticket.compensation', 'ticket', "Compensations",
        states={'invisible': ~Eval('compensation_allowed', False)})
    compensation_allowed = fields.Function(
        fields.Boolean("Compensation Allowed"), 'on_change_with_compensation_allowed')
    followups = fields.One2Many(
        'cc.ticket.followup', 'ticket', "Follow-up Visits", readonly=True)
    answer_wording = fields.Function(
        fields.Text("Agreed Answer"), 'on_change_with_answer_wording')
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.number, Index.Similarity())),
                Index(t, (t.party, Index.Range()), (t.type, Index.Range()),
                    (t.create_date, Index.Range())),
                Index(t, (t.team, Index.Range()), (t.state, Index.Equality())),
                Index(t, (t.state, Index.Equality()),
                    (t.sla_status, Index.Equality())),
                Index(t, (t.contact_number, Index.Equality())),
                })
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('new', 'accepted'),
            ('accepted', 'dispatched'),
            ('in_progress', 'dispatched'),
            ('dispatched', 'in_progress'),
            ('dispatched', 'accepted'),
            ('accepted', 'in_progress'),
            ('accepted', 'waiting_customer'),
            ('accepted', 'waiting_third_party'),
            ('in_progress', 'waiting_customer'),
            ('in_progress', 'waiting_third_party'),
            ('waiting_customer', 'in_progress'),
            ('waiting_third_party', 'in_progress'),
            ('accepted', 'resolved'),
            ('in_progress', 'resolved'),
            ('resolved', 'follow_up'),
            ('resolved', 'closed'),
            ('follow_up', 'closed'),
            ('resolved', 'in_progress'),
            ('follow_up', 'in_progress'),
            ('closed', 'in_progress'),
            }
        cls._buttons.update({
                'accept': visible_in('new'),
                'dispatch': visible_in('accepted', 'in_progress'),
                'process': visible_in('accepted'),
                'wait_customer': visible_in('accepted', 'in_progress'),
                'wait_third_party': visible_in('accepted', 'in_progress'),
                'resume': visible_in(*WAITING),
                'resolve': visible_in('accepted', 'in_progress'),
                'follow_up': visible_in('resolved'),
                'close': visible_in('resolved', 'follow_up'),
                'reopen': visible_in(*DONE),
                })
        cls.__rpc__.update({
                'create_from_partner': RPC(readonly=False),
                'public_status': RPC(),
                })

    # -- defaults and helpers ------------------------------------------
    @classmethod
    def default_state(cls):
        return 'new'

    @classmethod
    def default_priority(cls):
        return '1'

    @classmethod
    def default_channel(cls):
        return 'phone'

    @classmethod
    def default_owner(cls):
        return Transaction().user or None

    @classmethod
    def default_team(cls):
        team_ids = Pool().get('cc.team').user_team_ids()
        return team_ids[0] if team_ids else None

    @classmethod
    def default_reopen_count(cls):
        return 0

    @classmethod
    def default_second_contact(cls):
        return False

    @classmethod
    def get_channels(cls):
        Interaction = Pool().get('cc.interaction')
        return Interaction.fields_get(['channel'])['channel']['selection']

    @classmethod
    def get_kinds(cls):
        Type = Pool().get('cc.ticket.type')
        return Type.fields_get(['kind'])['kind']['selection']

    def get_kind(self, name):
        return self.type.kind if self.type else None

    def get_rec_name(self, name):
        return self.format_rec_name(self.number, self.subject)

    @staticmethod
    def format_rec_name(number, subject):
        "The record name from the columns (the SLA pass reads them in SQL)."
        return '%s %s' % (number or '', subject or '')

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('number', operator, operand, *extra),
            ('subject', operator, operand, *extra),
            ]

    def get_canned_reply(self, name):
        return None

    @classmethod
    def set_canned_reply(cls, tickets, name, value):
        pass

    @fields.depends('canned_reply', 'answer')
    def on_change_canned_reply(self):
        if self.canned_reply:
            self.answer = '\n'.join(
                filter(None, [self.answer, self.canned_reply.body]))
            self.canned_reply = None

    @fields.depends('party')
    def on_change_party(self):
        if self.party:
            self.tier = self.party.cc_tier
            if not getattr(self, 'contact_number', None):
                phones = [m for m in self.party.contact_mechanisms
                    if m.type in {'phone', 'mobile'}]
                if phones:
                    self.contact_number = phones[0].value_compact

    @fields.depends('type')
    def on_change_with_compensation_allowed(self, name=None):
        return bool(self.type and self.type.compensation_allowed)

    @fields.depends('type')
    def on_change_with_answer_wording(self, name=None):
        return self.type.answer_wording if self.type else None

    @fields.depends('id', 'party', 'contact_number', methods=['_duplicate_domain'])
    def on_change_with_duplicates(self, name=None):
        domain = self._duplicate_domain()
        if not domain:
            return []
        with without_check_access():
            return [t.id for t in self.search(domain, limit=10)]

    @fields.depends('id', 'party', 'contact_number')
    def _duplicate_domain(self):
        "Open tickets of the same customer or number in the window."
        Configuration = Pool().get('cc.ticket.configuration')
        same = []
        if self.party:
            same.append(('party', '=', self.party.id))
        if getattr(self, 'contact_number', None):
            same.append(('contact_number', '=',
                    self.normalise_number(self.contact_number)))
        if not same:
            return None
        days = Configuration(1).second_contact_days
        return [
            ['OR'] + same,
            ('state', '!=', 'closed'),
            ('create_date', '>=', dt.datetime.now() - dt.timedelta(days=days)),
            ('id', '!=', self.id if self.id and self.id > 0 else -1),
            ]

    def get_deadline(self, name):
        for timer in self.timers:
            if timer.kind == 'resolution':
                return timer.deadline

    # -- SLA -------------------------------------------------------------
    def sla_policy(self, policies=None):
        Policy = Pool().get('cc.sla.policy')
        return Policy.find({
                'ticket_type': self.type,
                'priority': self.priority,
                'tier': self.tier.id if self.tier else None,
                'channel': self.channel,
                }, policies=policies)

    def sla_calendar(self, policy):
        Configuration = Pool().get('cc.ticket.configuration')
        if policy and policy.calendar:
            return policy.calendar
        if self.team and self.team.cc_calendar:
            return self.team.cc_calendar
        return Configuration(1).calendar

    def fallback_target(self, kind):
        Configuration = Pool().get('cc.ticket.configuration')
        return getattr(Configuration(1), f'{kind}_minutes')

    @classmethod
    def _timers(cls, tickets, kind):
        Timer = Pool().get('cc.ticket.sla')
        return Timer.search([
                ('ticket', 'in', [t.id for t in tickets]),
                ('kind', '=', kind),
                ])

    @classmethod
    def _clock(cls, tickets, kind, action, now=None):
        Timer = Pool().get('cc.ticket.sla')
        if tickets:
            with without_check_access():
                Timer.apply(
                    cls._timers(tickets, kind), action, now or dt.datetime.now())

    @classmethod
    def update_sla_status(cls, tickets):
        """Store on each ticket the worst status of its timers (a derived
        column, written in bulk: the SLA pass calls this for every ticket
        it evaluates). ``tickets`` are records or ids."""
        pool = Pool()
        Timer = pool.get('cc.ticket.sla')
        table = cls.__table__()
        timer = Timer.__table__()
        cursor = Transaction().connection.cursor()
        in_ = fields.SQL_OPERATORS['in']
        changed, rows = [], []
        for sub in grouped_slice(
                [getattr(t, 'id', t) for t in tickets], SQL_BATCH):
            # Plain SQL: loading thousands of tickets through the ORM only
            # to compare one column cost more than the pass itself.
            cursor.execute(*table.join(timer, 'LEFT',
                    condition=timer.ticket == table.id).select(
                    table.id, table.sla_status, timer.status,
                    where=in_(table.id, list(sub))))
            current, worst = {}, {}
            for ticket_id, stored, status in cursor:
                current[ticket_id] = stored
                if (STATUS_RANK.get(status, 0)
                        > STATUS_RANK[worst.get(ticket_id)]):
                    worst[ticket_id] = status
            for ticket_id, stored in current.items():
                if stored != worst.get(ticket_id):
                    changed.append(ticket_id)
                    rows.append({'sla_status': worst.get(ticket_id)})
        bulk_update(cls, changed, rows)

    # -- creation ----------------------------------------------------------
    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Configuration = pool.get('cc.ticket.configuration')
        Party = pool.get('party.party')
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('number'):
            values['number'] = Configuration(1).ticket_sequence.get()
        if values.get('contact_number'):
            values['contact_number'] = cls.normalise_number(
                values['contact_number'])
        if values.get('party') and 'tier' not in values:
            tier = Party(values['party']).cc_tier
            values['tier'] = tier.id if tier else None
        return values

    @classmethod
    def normalise_number(cls, raw):
        "E.164 form of a phone number (as cc_base stores them), else as is."
        Caller = Pool().get('cc.caller')
        try:
            caller = Caller.parse(raw)
        except Exception:
            return raw.strip()
        return caller.e164 if caller.valid and caller.e164 else raw.strip()

    @classmethod
    def create(cls, vlist):
        if len(vlist) > CREATE_CHUNK:
            # trytond checks each record of a list it builds against the
            # whole list (quadratic in its length): chunks keep a large
            # batch linear, and each chunk sees the tickets of the earlier
            # ones as single creations would.
            return [ticket for start in range(0, len(vlist), CREATE_CHUNK)
                for ticket in cls.create(vlist[start:start + CREATE_CHUNK])]
        pool = Pool()
        Configuration = pool.get('cc.ticket.configuration')
        Party = pool.get('party.party')
        Timer = pool.get('cc.ticket.sla')
        History = pool.get('cc.ticket.history')
        vlist = [v.copy() for v in vlist]
        unnumbered = [v for v in vlist if not v.get('number')]
        if unnumbered:
            # One sequence call for the batch: without SQL sequences
            # (SQLite) each call rewrites and re-validates ir.sequence.
            numbers = Configuration(1).ticket_sequence.get_many(
                len(unnumbered))
            for values, number in zip(unnumbered, numbers):
                values['number'] = number
        untiered = [v for v in vlist if v.get('party') and 'tier' not in v]
        if untiered:
            # One browse list reads every customer's tier in one query.
            parties = Party.browse(list({v['party'] for v in untiered}))
            tiers = {p.id: p.cc_tier.id if p.cc_tier else None
                for p in parties}
            for values in untiered:
                values['tier'] = tiers[values['party']]
        tickets = super().create(vlist)
        now = dt.datetime.now()
        with without_check_access():
            History.record(tickets, None, 'new')
            Timer.create_for_tickets(
                tickets, ['first_response', 'resolution'], now)
            cls.detect_second_contact(tickets)
        cls.update_sla_status(tickets)
        return tickets

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default else {}
        for name in ['number', 'history', 'timers', 'dispatches', 'followups',
                'compensations', 'related_ticket', 'second_contacts',
                'accept_date', 'resolve_date', 'close_date',
                'resolution_minutes', 'sla_status', 'interactions']:
            default.setdefault(name, None)
        default.setdefault('state', 'new')
        default.setdefault('reopen_count', 0)
        default.setdefault('second_contact', False)
        return super().copy(tickets, default=default)

    @classmethod
    def detect_second_contact(cls, tickets):
        """Link a ticket to an open ticket of the same customer and type
        opened within the window (二次受理) and tell that ticket's owner.

        One search covers the whole batch; within it each ticket only sees
        the tickets created before it, as if they had been created one by
        one."""
        from .gateway import Notifier
        Configuration = Pool().get('cc.ticket.configuration')
        days = Configuration(1).second_contact_days
        tickets = [t for t in tickets if t.party]
        if not tickets or not days:
            return
        window = dt.timedelta(days=days)
        candidates = cls.search([
                ('party', 'in', list({t.party.id for t in tickets})),
                ('type', 'in', list({t.type.id for t in tickets})),
                ('state', '!=', 'closed'),
                ('create_date', '>=',
                    min(t.create_date for t in tickets) - window),
                ], order=[('create_date', 'ASC'), ('id', 'ASC')])
        by_key = {}
        for candidate in candidates:
            by_key.setdefault(
                (candidate.party.id, candidate.type.id), []).append(candidate)
        batch = {t.id for t in tickets}
        # Links made earlier in this batch count for the later tickets.
        first_of = {}
        to_write = []
        for ticket in sorted(tickets, key=lambda t: t.id):
            previous = next((c for c in by_key.get(
                            (ticket.party.id, ticket.type.id), [])
                    if c.id != ticket.id
                    and c.create_date >= ticket.create_date - window
                    and (c.id < ticket.id or c.id not in batch)), None)
            if not previous:
                continue
            first = first_of.get(previous.id) or (
                previous.related_ticket or previous)
            first_of[ticket.id] = first
            to_write.extend(([ticket], {
                        'related_ticket': first.id,
                        'second_contact': True,
                        }))
            if first.owner:
                Notifier.notify([first.owner], [first], gettext(
                        'cc_ticket.msg_second_contact',
                        ticket=first.rec_name, new=ticket.rec_name))
        if to_write:
            cls.write(*to_write)

    @classmethod
    def validate_fields(cls, tickets, field_names):
        super().validate_fields(tickets, field_names)
        # SLA bookkeeping writes only derived columns: nothing to check.
        if field_names is not None and field_names <= DERIVED_FIELDS:
            return
        for ticket in tickets:
            if ticket.type:
                ticket.type.check_ticket(ticket)

    @classmethod
    def on_modification(cls, mode, tickets, field_names=None):
        super().on_modification(mode, tickets, field_names=field_names)
        if mode == 'write' and field_names and (SLA_FIELDS & set(field_names)):
            cls.retarget_sla(tickets)

    @classmethod
    def retarget_sla(cls, tickets):
        pool = Pool()
        Timer = pool.get('cc.ticket.sla')
        Policy = pool.get('cc.sla.policy')
        now = dt.datetime.now()
        with without_check_access():
            policies = Policy.search([])
            for ticket in tickets:
                if ticket.state == 'closed':
                    continue
                policy = ticket.sla_policy(policies)
                Timer.retarget(
                    list(ticket.timers), policy, ticket.sla_calendar(policy),
                    now)
        cls.update_sla_status(tickets)

    @classmethod
    def on_write(cls, tickets, values):
        callbacks = super().on_write(tickets, values)
        if 'state' in values:
            History = Pool().get('cc.ticket.history')
            previous = {t: t.state for t in tickets}

            def log():
                with without_check_access():
                    for state in set(previous.values()):
                        changed = [t for t, s in previous.items()
                            if s == state and s != values['state']]
                        History.record(changed, state, values['state'])
            callbacks.append(log)
        return callbacks

    @classmethod
    def check_modification(cls, mode, tickets, values=None, external=False):
        super().check_modification(
            mode, tickets, values=values, external=external)
        if mode == 'delete':
            for ticket in tickets:
                if ticket.state != 'new':
                    raise AccessError(gettext(
                            'cc_ticket.msg_ticket_delete_new',
                            ticket=ticket.rec_name))

    # -- transitions ---------------------------------------------------
    @classmethod
    @ModelView.button
    @Workflow.transition('accepted')
    def accept(cls, tickets):
        "First response: the ticket is taken in charge."
        cls._responded(tickets)

    @classmethod
    def _responded(cls, tickets):
        user = Transaction().user
        now = dt.datetime.now()
        cls.write([t for t in tickets if not t.owner], {'owner': user})
        cls.write([t for t in tickets if not t.accept_date], {
                'accept_date': now})
        cls._clock(tickets, 'first_response', 'stop', now)
        cls.update_sla_status(tickets)

    @classmethod
    @ModelView.button
    @Workflow.transition('dispatched')
    def dispatch(cls, tickets):
        Dispatch = Pool().get('cc.ticket.dispatch')
        for ticket in tickets:
            if not ticket.department:
                raise UserError(gettext(
                        'cc_ticket.msg_ticket_dispatch_department',
                        ticket=ticket.rec_name))
        Dispatch.save([Dispatch(ticket=t, department=t.department)
                for t in tickets])
        cls._responded(tickets)

    @classmethod
    def dispatch_accepted(cls, tickets):
        "The department took the ticket: work starts."
        with without_check_access():
            cls.process(tickets)

    @classmethod
    @Workflow.transition('accepted')
    def dispatch_rejected(cls, tickets):
        "The department sent the ticket back: the agent must re-route it."
        with without_check_access():
            cls.write(tickets, {'department': None})

    @classmethod
    @ModelView.button
    @Workflow.transition('in_progress')
    def process(cls, tickets):
        cls._responded(tickets)

    @classmethod
    @ModelView.button
    @Workflow.transition('waiting_customer')
    def wait_customer(cls, tickets):
        cls._responded(tickets)
        cls._clock(tickets, 'resolution', 'pause')
        cls.update_sla_status(tickets)

    @classmethod
    @ModelView.button
    @Workflow.transition('waiting_third_party')
    def wait_third_party(cls, tickets):
        cls._responded(tickets)
        cls._clock(tickets, 'resolution', 'pause')
        cls.update_sla_status(tickets)

    @classmethod
    @ModelView.button
    @Workflow.transition('in_progress')
    def resume(cls, tickets):
        cls._clock([t for t in tickets if t.state in WAITING],
            'resolution', 'resume')
        cls.update_sla_status(tickets)

    @classmethod
    @ModelView.button
    @Workflow.transition('resolved')
    def resolve(cls, tickets):
        pool = Pool()
        Timer = pool.get('cc.ticket.sla')
        FollowUp = pool.get('cc.ticket.followup')
        now = dt.datetime.now()
        cls._responded(tickets)
        cls._clock(tickets, 'resolution', 'stop', now)
        to_write = []
        elapsed = {t.ticket.id: t.elapsed
            for t in cls._timers(tickets, 'resolution')}
        for ticket in tickets:
            to_write.extend(([ticket], {
                        'resolve_date': now,
                        'resolution_minutes': (
                            round(elapsed[ticket.id].total_seconds() / 60, 1)
                            if ticket.id in elapsed else None),
                        }))
        if to_write:
            cls.write(*to_write)
        with without_check_access():
            visited = [t for t in tickets if t.type.follow_up]
            due = {timer.ticket.id: timer.deadline
                for timer in Timer.create_for_tickets(
                    visited, ['follow_up'], now)}
            FollowUp.save([FollowUp(
                        ticket=t, user=t.owner, due_date=due.get(t.id))
                    for t in visited])
        cls.update_sla_status(tickets)

    @classmethod
    @ModelView.button
    @Workflow.transition('follow_up')
    def follow_up(cls, tickets):
        "The follow-up visit is under way."

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, tickets):
        for ticket in tickets:
            if any(f.state == 'open' for f in ticket.followups):
                raise UserError(gettext(
                        'cc_ticket.msg_ticket_close_followup',
                        ticket=ticket.rec_name))
        cls.write(tickets, {'close_date': dt.datetime.now()})

    @classmethod
    @ModelView.button
    @Workflow.transition('in_progress')
    def reopen(cls, tickets):
        "The problem is back: the resolution clock continues where it was."
        FollowUp = Pool().get('cc.ticket.followup')
        reopened = [t for t in tickets if t.state in DONE]
        now = dt.datetime.now()
        to_write = []
        for ticket in reopened:
            to_write.extend(([ticket], {
                        'reopen_count': (ticket.reopen_count or 0) + 1,
                        'resolve_date': None,
                        'close_date': None,
                        }))
        if to_write:
            cls.write(*to_write)
        cls._clock(reopened, 'resolution', 'reopen', now)
        cls._clock(reopened, 'follow_up', 'stop', now)
        with without_check_access():
            FollowUp.cancel([f for t in reopened for f in t.followups
                    if f.state == 'open'])
        cls.update_sla_status(tickets)

    # -- partner systems -------------------------------------------------
    @classmethod
    def create_from_partner(cls, values):
        """Create a ticket from a partner system (web form, online service
        hall) and return ``{'id', 'number', 'second_contact'}``.

        ``values`` keys: ``type`` (type code, required), ``subject``
        (required), ``description``, ``contact_number``, ``channel``
        (default ``web``), ``priority``, ``party`` (id). Without a party the
        customer is looked up by the contact number and set when exactly
        one party has it.
        """
        pool = Pool()
        Type = pool.get('cc.ticket.type')
        Caller = pool.get('cc.caller')
        types = Type.search([('code', '=', values.get('type'))], limit=1)
        if not types:
            raise UserError(gettext(
                    'cc_ticket.msg_partner_unknown_type',
                    type=values.get('type')))
        ticket = cls(
            type=types[0], subject=values.get('subject'),
            description=values.get('description'),
            contact_number=values.get('contact_number'),
            channel=values.get('channel') or 'web',
            priority=values.get('priority') or '1',
            party=values.get('party'), owner=None, team=None)
        if not ticket.party and ticket.contact_number:
            with without_check_access():
                party_ids = [row[0] for row in Caller.match_parties(
                        Caller.parse(ticket.contact_number).key)]
            if len(party_ids) == 1:
                ticket.party = party_ids[0]
        ticket.save()
        return {
            'id': ticket.id,
            'number': ticket.number,
            'second_contact': ticket.second_contact,
            }

    @classmethod
    def public_status(cls, number, contact_number):
        """State of a ticket for the IVR or the web (TKT-20); the contact
        number must match so that numbers cannot be enumerated."""
        with without_check_access():
            tickets = cls.search([
                    ('number', '=', number),
                    ('contact_number', '=',
                        cls.normalise_number(contact_number or '')),
                    ], limit=1)
        if not tickets:
            return None
        ticket, = tickets
        return {
            'number': ticket.number,
            'state': ticket.state,
            'state_string': ticket.state_string,
            'resolution_deadline': ticket.resolution_deadline,
            }


class History(ModelSQL, ModelView):
    __string__ = "Ticket History"
    __name__ = 'cc.ticket.history'
    ticket = fields.Many2One(
        'cc.ticket', "Ticket", required=True, ondelete='CASCADE',
        readonly=True)
    date = fields.DateTime("Date", required=True, readonly=True)
    user = fields.Many2One('res.user', "User", readonly=True,
        ondelete='SET NULL')
    from_state = fields.Selection(
        [(None, "")] + STATES, "From", readonly=True, sort=False)
    to_state = fields.Selection(STATES, "To", readonly=True, sort=False)
    comment = fields.Text("Comment", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.ticket, Index.Range()), (t.date, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def record(cls, tickets, from_state, to_state):
        "Log a transition with the context's ``cc_ticket_comment``."
        transaction = Transaction()
        now = dt.datetime.now()
        comment = transaction.context.get('cc_ticket_comment')
        cls.save([cls(
                    ticket=t, date=now, user=transaction.user or None,
                    from_state=from_state, to_state=to_state,
                    comment=comment)
                for t in tickets])


class Interaction(metaclass=PoolMeta):
    __name__ = 'cc.interaction'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['cc.ticket']


class CreateTicket(Wizard):
    """Open a new ticket prefilled from the record at hand: a contact (the
    screen pop) or a customer (the customer 360)."""
    __string__ = "Create Ticket"
    __name__ = 'cc.ticket.create'
    start_state = 'open_'
    open_ = StateAction('cc_ticket.act_ticket_new')

    def _defaults(self):
        record = self.record
        if self.model.__name__ == 'cc.interaction':
            defaults = {
                'channel': record.channel,
                'contact_number': record.number,
                'interactions': [record.id],
                }
            if record.party:
                defaults['party'] = record.party.id
                defaults['tier'] = (
                    record.party.cc_tier.id if record.party.cc_tier else None)
            return defaults
        if self.model.__name__ == 'party.party':
            phones = [m.value_compact for m in record.contact_mechanisms
                if m.type in {'phone', 'mobile'}]
            return {
                'party': record.id,
                'tier': record.cc_tier.id if record.cc_tier else None,
                'contact_number': phones[0] if phones else None,
                }
        return {}

    def do_open_(self, action):
        action['pyson_context'] = PYSONEncoder().encode({
                f'default_{k}': v for k, v in self._defaults().items()})
        return action, {}
