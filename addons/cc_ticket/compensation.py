"""Complaint compensation with per-role limits and approval above them.

Seed 004: a compensation outside the company rules is a disciplinary
matter, so the limit is enforced, not advised: an agent can only grant up to
the highest limit of their groups; more needs the approval of someone whose
own limit covers the amount.
"""
import datetime as dt
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .common import visible_in


class CompensationLimit(ModelSQL, ModelView):
    __string__ = "Compensation Limit"
    __name__ = 'cc.compensation.limit'
    group = fields.Many2One(
        'res.group', "Group", required=True, ondelete='CASCADE')
    amount = fields.Numeric(
        "Maximum Amount", digits=(16, 2), required=True,
        domain=[('amount', '>=', 0)])

    @classmethod
    def user_limit(cls, user_id=None):
        "Highest limit of the user's groups (0 without any)."
        pool = Pool()
        User = pool.get('res.user')
        transaction = Transaction()
        if user_id is None:
            user_id = transaction.user
        with transaction.set_user(user_id):
            groups = User.get_groups()
        limits = cls.search([('group', 'in', list(groups))])
        return max((l.amount for l in limits), default=Decimal(0))


class Compensation(Workflow, ModelSQL, ModelView):
    __string__ = "Ticket Compensation"
    __name__ = 'cc.ticket.compensation'
    _states = {'readonly': Eval('state') != 'draft'}
    ticket = fields.Many2One(
        'cc.ticket', "Ticket", required=True, ondelete='RESTRICT',
        states=_states)
    party = fields.Function(
        fields.Many2One('party.party', "Customer"), 'get_party')
    amount = fields.Numeric(
        "Amount", digits=(16, 2), required=True, states=_states,
        domain=[('amount', '>', 0)])
    reason = fields.Text("Reason", required=True, states=_states)
    requested_by = fields.Many2One(
        'res.user', "Requested by", readonly=True, ondelete='RESTRICT')
    request_date = fields.DateTime("Requested", readonly=True)
    approved_by = fields.Many2One(
        'res.user', "Approved by", readonly=True, ondelete='RESTRICT')
    approval_date = fields.DateTime("Decided", readonly=True)
    above_limit = fields.Boolean(
        "Above Limit", readonly=True,
        help="The amount exceeded the requester's limit.")
    state = fields.Selection([
            ('draft', "Draft"),
            ('waiting', "Waiting for Approval"),
            ('granted', "Granted"),
            ('refused', "Refused"),
            ], "State", readonly=True, required=True)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('request_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'granted'),
            ('draft', 'waiting'),
            ('waiting', 'granted'),
            ('waiting', 'refused'),
            ('waiting', 'draft'),
            }
        cls._buttons.update({
                'grant': visible_in('draft'),
                'request_approval': visible_in('draft'),
                'approve': visible_in('waiting'),
                'refuse': visible_in('waiting'),
                'draft': visible_in('waiting'),
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_requested_by(cls):
        return Transaction().user

    @classmethod
    def default_above_limit(cls):
        return False

    def get_party(self, name):
        return self.ticket.party.id if self.ticket.party else None

    def get_rec_name(self, name):
        return '%s %s' % (self.ticket.rec_name, self.amount)

    @classmethod
    def validate(cls, compensations):
        super().validate(compensations)
        for compensation in compensations:
            if not compensation.ticket.type.compensation_allowed:
                raise UserError(gettext(
                        'cc_ticket.msg_compensation_not_allowed',
                        type=compensation.ticket.type.rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('granted')
    def grant(cls, compensations):
        "Grant directly: only within the requester's own limit."
        Limit = Pool().get('cc.compensation.limit')
        user = Transaction().user
        limit = Limit.user_limit(user)
        for compensation in compensations:
            if compensation.amount > limit:
                raise UserError(gettext(
                        'cc_ticket.msg_compensation_above_limit',
                        amount=compensation.amount, limit=limit,
                        ticket=compensation.ticket.rec_name))
        now = dt.datetime.now()
        cls.write(compensations, {
                'requested_by': user,
                'request_date': now,
                'approved_by': user,
                'approval_date': now,
                'above_limit': False,
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('waiting')
    def request_approval(cls, compensations):
        Limit = Pool().get('cc.compensation.limit')
        user = Transaction().user
        limit = Limit.user_limit(user)
        now = dt.datetime.now()
        to_write = []
        for compensation in compensations:
            to_write.extend(([compensation], {
                        'requested_by': user,
                        'request_date': now,
                        'above_limit': compensation.amount > limit,
                        }))
        if to_write:
            cls.write(*to_write)

    @classmethod
    @ModelView.button
    @Workflow.transition('granted')
    def approve(cls, compensations):
        "Approval needs a limit covering the amount and a second person."
        Limit = Pool().get('cc.compensation.limit')
        user = Transaction().user
        limit = Limit.user_limit(user)
        for compensation in compensations:
            if compensation.requested_by and (
                    compensation.requested_by.id == user):
                raise UserError(gettext(
                        'cc_ticket.msg_compensation_self_approval',
                        ticket=compensation.ticket.rec_name))
            if compensation.amount > limit:
                raise UserError(gettext(
                        'cc_ticket.msg_compensation_approver_limit',
                        amount=compensation.amount, limit=limit,
                        ticket=compensation.ticket.rec_name))
        cls.write(compensations, {
                'approved_by': user,
                'approval_date': dt.datetime.now(),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('refused')
    def refuse(cls, compensations):
        cls.write(compensations, {
                'approved_by': Transaction().user,
                'approval_date': dt.datetime.now(),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, compensations):
        pass

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode == 'delete':
            for compensation in records:
                if compensation.state != 'draft':
                    raise UserError(gettext(
                            'cc_ticket.msg_compensation_delete',
                            ticket=compensation.ticket.rec_name))
