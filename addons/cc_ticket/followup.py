"""Follow-up visit (回访) after resolution, due within the SLA follow-up
target (24 business hours by default)."""
import datetime as dt

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .common import visible_in

SATISFACTION = [
    (None, ""),
    ('1', "1 - Very Dissatisfied"),
    ('2', "2 - Dissatisfied"),
    ('3', "3 - Neutral"),
    ('4', "4 - Satisfied"),
    ('5', "5 - Very Satisfied"),
    ]


class FollowUp(Workflow, ModelSQL, ModelView):
    __string__ = "Ticket Follow-up Visit"
    __name__ = 'cc.ticket.followup'
    _states = {'readonly': Eval('state') != 'open'}
    ticket = fields.Many2One(
        'cc.ticket', "Ticket", required=True, ondelete='CASCADE',
        readonly=True)
    party = fields.Function(
        fields.Many2One('party.party', "Customer"), 'get_ticket_field')
    contact_number = fields.Function(
        fields.Char("Contact Number"), 'get_ticket_field')
    user = fields.Many2One(
        'res.user', "Assigned to", ondelete='SET NULL', states=_states)
    due_date = fields.DateTime("Due", readonly=True)
    reached = fields.Selection([
            (None, ""),
            ('reached', "Reached"),
            ('not_reached', "Not Reached"),
            ], "Customer Reached", states=_states)
    attempts = fields.Integer("Attempts", states=_states)
    satisfaction = fields.Selection(
        SATISFACTION, "Satisfaction", sort=False,
        states={
            'readonly': Eval('state') != 'open',
            'invisible': Eval('reached') != 'reached',
            })
    reasons = fields.Text("Reasons", states=_states)
    solved = fields.Boolean(
        "Problem Solved", states={
            'readonly': Eval('state') != 'open',
            'invisible': Eval('reached') != 'reached',
            })
    done_date = fields.DateTime("Done", readonly=True)
    on_time = fields.Boolean("On Time", readonly=True)
    state = fields.Selection([
            ('open', "Open"),
            ('done', "Done"),
            ('cancelled', "Cancelled"),
            ], "State", readonly=True, required=True)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.state, Index.Equality()), (t.due_date, Index.Range())))
        cls._order = [('due_date', 'ASC'), ('id', 'ASC')]
        cls._transitions |= {
            ('open', 'done'),
            ('open', 'cancelled'),
            }
        cls._buttons.update({
                'do': visible_in('open'),
                })

    @classmethod
    def default_state(cls):
        return 'open'

    @classmethod
    def default_attempts(cls):
        return 0

    def get_ticket_field(self, name):
        value = getattr(self.ticket, name)
        return value.id if hasattr(value, 'id') else value

    def get_rec_name(self, name):
        return self.ticket.rec_name

    def check_complete(self):
        if not self.reached:
            raise UserError(gettext(
                    'cc_ticket.msg_followup_reached',
                    ticket=self.ticket.rec_name))
        if self.reached == 'reached' and not self.satisfaction:
            raise UserError(gettext(
                    'cc_ticket.msg_followup_satisfaction',
                    ticket=self.ticket.rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def do(cls, followups):
        """Record the visit; a reached customer whose problem is not solved
        reopens the ticket, any other outcome closes it."""
        pool = Pool()
        Ticket = pool.get('cc.ticket')
        Timer = pool.get('cc.ticket.sla')
        now = dt.datetime.now()
        for followup in followups:
            followup.check_complete()
            followup.done_date = now
            # Written now, not after the transition, so the ticket can close.
            followup.state = 'done'
            followup.on_time = not followup.due_date or now <= followup.due_date
        cls.save(followups)
        tickets = [f.ticket for f in followups]
        Timer.apply(
            [t for t in Timer.search([
                        ('ticket', 'in', [t.id for t in tickets]),
                        ('kind', '=', 'follow_up'),
                        ])], 'stop', now)
        unsolved = [
            f.ticket for f in followups
            if f.reached == 'reached' and not f.solved]
        to_close = [t for t in tickets if t not in unsolved]
        if unsolved:
            with Transaction().set_context(
                    cc_ticket_comment=gettext('cc_ticket.msg_followup_unsolved')):
                Ticket.reopen(unsolved)
        if to_close:
            Ticket.close(to_close)

    @classmethod
    @Workflow.transition('cancelled')
    def cancel(cls, followups):
        pass
