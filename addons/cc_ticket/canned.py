"""Canned replies: agreed wording (统一口径) agents insert into answers."""
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, fields, sequence_ordered)


class CannedReply(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    __string__ = "Ticket Canned Reply"
    __name__ = 'cc.ticket.canned_reply'
    name = fields.Char("Name", required=True, translate=True)
    ticket_type = fields.Many2One(
        'cc.ticket.type', "Ticket Type", ondelete='CASCADE',
        help="Offered on tickets of this type; empty: on all tickets.")
    body = fields.Text("Text", required=True, translate=True)
