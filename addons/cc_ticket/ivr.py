"""IVR self-service: the status of a ticket, for a caller who keys its
number (TEL-63, TKT-20), and, said before a menu (its opening
self-service, TEL-61), the status of the caller's open ticket. Registered
only when cc_telephony is active (``[register cc_telephony]`` in
tryton.cfg): cc_telephony's IVR offers the actions ``cc.ivr.option``
knows, and this module adds ``ticket_status`` and ``open_ticket_status``."""
from trytond.i18n import gettext
from trytond.modules.cc_telephony import ivr_engine

from .ticket import DONE
from trytond.pool import Pool, PoolMeta
from trytond.transaction import without_check_access

# The greeting-style prompts the action plays (Asterisk sound files): one
# per ticket state, after "your ticket is".
PROMPT_ENTER = 'cc-ivr-enter-ticket'
PROMPT_STATUS = 'cc-ivr-ticket-status'
PROMPT_OPEN_STATUS = 'cc-ivr-open-ticket-status'
PROMPT_STATE = 'cc-ivr-ticket-{state}'
PROMPT_UNKNOWN = 'cc-ivr-ticket-unknown'


def keyed(number):
    "A ticket number as a telephone keypad can key it: its digits."
    return ''.join(c for c in number or '' if c.isdigit())


class IvrOption(metaclass=PoolMeta):
    __name__ = 'cc.ivr.option'

    @classmethod
    def ivr_services(cls):
        services = super().ivr_services()
        services['ticket_status'] = ivr_engine.Service('ticket_status',
            label=gettext('cc_telephony.msg_ivr_service_ticket_status'),
            digits=20, prompt=PROMPT_ENTER)
        services['open_ticket_status'] = ivr_engine.Service(
            'open_ticket_status',
            label=gettext('cc_ticket.msg_ivr_service_open_ticket_status'))
        return services

    @classmethod
    def ivr_service_ticket_status(cls, request):
        """The status of the caller's ticket whose number has the keyed
        digits (GD20261124-00001 is keyed 2026112400001). Only a ticket of
        the calling number is told (Ticket.public_status checks it), so
        numbers cannot be enumerated from any phone."""
        Ticket = Pool().get('cc.ticket')
        digits = request.get('digits') or ''
        caller = request.get('caller') or ''
        status = None
        if digits and caller:
            with without_check_access():
                tickets = Ticket.search([
                        ('contact_number', '=',
                            Ticket.normalise_number(caller)),
                        ], order=[('id', 'DESC')])
            for ticket in tickets:
                if keyed(ticket.number) == digits:
                    status = Ticket.public_status(ticket.number, caller)
                    break
        if not status:
            return ivr_engine.ServiceResult(prompts=(PROMPT_UNKNOWN,),
                next='menu', outcome='no such ticket of this caller')
        return status_result(PROMPT_STATUS, status['number'],
            status['state'])

    @classmethod
    def ivr_service_open_ticket_status(cls, request):
        """The state of the calling number's latest ticket not yet done: a
        caller with a ticket in progress most often calls about it. Said
        before the menu; nothing at all when there is none."""
        Ticket = Pool().get('cc.ticket')
        caller = request.get('caller') or ''
        tickets = []
        if caller:
            with without_check_access():
                tickets = Ticket.search([
                        ('contact_number', '=',
                            Ticket.normalise_number(caller)),
                        ('state', 'not in', sorted(DONE)),
                        ], order=[('id', 'DESC')], limit=1)
        if not tickets:
            return ivr_engine.ServiceResult(next='menu',
                outcome='no open ticket')
        ticket, = tickets
        return status_result(PROMPT_OPEN_STATUS, ticket.number, ticket.state)


def status_result(prompt, number, state):
    "What the IVR says of a ticket, and the variables the agent sees."
    return ivr_engine.ServiceResult(
        prompts=(prompt, PROMPT_STATE.format(state=state)),
        variables={'CC_IVR_TICKET': number, 'CC_IVR_TICKET_STATE': state},
        next='menu', outcome=f'{number} {state}')
