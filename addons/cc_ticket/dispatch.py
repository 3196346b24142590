"""Dispatch of a ticket to a department, accepted or rejected by it."""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.model.exceptions import AccessError
from trytond.exceptions import UserError
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .common import visible_in


class Dispatch(Workflow, ModelSQL, ModelView):
    __string__ = "Ticket Dispatch"
    __name__ = 'cc.ticket.dispatch'
    _states = {'readonly': Eval('state') != 'pending'}
    ticket = fields.Many2One(
        'cc.ticket', "Ticket", required=True, ondelete='CASCADE',
        states=_states)
    department = fields.Many2One(
        'cc.department', "Department", required=True, ondelete='RESTRICT',
        states=_states)
    note = fields.Text("Instructions", states=_states)
    dispatched_by = fields.Many2One(
        'res.user', "Dispatched by", readonly=True, ondelete='SET NULL')
    dispatch_date = fields.DateTime("Dispatched", readonly=True)
    answered_by = fields.Many2One(
        'res.user', "Answered by", readonly=True, ondelete='SET NULL')
    answer_date = fields.DateTime("Answered", readonly=True)
    reject_reason = fields.Text(
        "Rejection Reason",
        states={'readonly': Eval('state') != 'pending'},
        help="Why the department sends the ticket back (required to reject).")
    state = fields.Selection([
            ('pending', "Pending"),
            ('accepted', "Accepted"),
            ('rejected', "Rejected"),
            ], "State", readonly=True, required=True)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.department, Index.Equality()),
                (t.state, Index.Equality())))
        cls._order = [('dispatch_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('pending', 'accepted'),
            ('pending', 'rejected'),
            }
        cls._buttons.update({
                'accept': visible_in('pending'),
                'reject': visible_in('pending'),
                })

    @classmethod
    def default_state(cls):
        return 'pending'

    @classmethod
    def default_dispatched_by(cls):
        return Transaction().user

    @classmethod
    def default_dispatch_date(cls):
        return dt.datetime.now()

    def get_rec_name(self, name):
        return '%s → %s' % (self.ticket.rec_name, self.department.rec_name)

    def check_member(self):
        "Only members of the department (or root) answer a dispatch."
        Department = Pool().get('cc.department')
        user = Transaction().user
        if user and self.department.id not in (
                Department.user_department_ids(user)):
            raise AccessError(gettext(
                    'cc_ticket.msg_dispatch_not_member',
                    department=self.department.rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('accepted')
    def accept(cls, dispatches):
        Ticket = Pool().get('cc.ticket')
        for dispatch in dispatches:
            dispatch.check_member()
        cls.write(dispatches, {
                'answered_by': Transaction().user,
                'answer_date': dt.datetime.now(),
                })
        Ticket.dispatch_accepted([d.ticket for d in dispatches])

    @classmethod
    @ModelView.button
    @Workflow.transition('rejected')
    def reject(cls, dispatches):
        Ticket = Pool().get('cc.ticket')
        for dispatch in dispatches:
            dispatch.check_member()
            if not (dispatch.reject_reason or '').strip():
                raise UserError(gettext(
                        'cc_ticket.msg_dispatch_reject_reason',
                        ticket=dispatch.ticket.rec_name))
        cls.write(dispatches, {
                'answered_by': Transaction().user,
                'answer_date': dt.datetime.now(),
                })
        for dispatch in dispatches:
            with Transaction().set_context(
                    cc_ticket_comment=dispatch.reject_reason):
                Ticket.dispatch_rejected([dispatch.ticket])
