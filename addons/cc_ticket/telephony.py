"""Link to cc_telephony calls; registered only when cc_telephony is active
(``[register cc_telephony]`` in tryton.cfg), so cc_ticket does not depend
on it."""
from trytond.model import fields
from trytond.pool import PoolMeta


class Ticket(metaclass=PoolMeta):
    __name__ = 'cc.ticket'
    call = fields.Many2One(
        'cc.call', "Call", ondelete='SET NULL',
        states={'readonly': True},
        help="The call during which the ticket was opened.")


class Call(metaclass=PoolMeta):
    __name__ = 'cc.call'
    tickets = fields.One2Many('cc.ticket', 'call', "Tickets", readonly=True)


class CreateTicket(metaclass=PoolMeta):
    __name__ = 'cc.ticket.create'

    def _defaults(self):
        if self.model.__name__ != 'cc.call':
            return super()._defaults()
        call = self.record
        defaults = {
            'call': call.id,
            'channel': 'phone',
            'contact_number': call.caller_number,
            }
        if call.party:
            defaults['party'] = call.party.id
            defaults['tier'] = (
                call.party.cc_tier.id if call.party.cc_tier else None)
        if call.interaction:
            defaults['interactions'] = [call.interaction.id]
        return defaults
