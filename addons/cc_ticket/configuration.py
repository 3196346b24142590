"""Ticket settings: numbering, second-contact window, default calendar."""
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Id


class Configuration(ModelSingleton, ModelSQL, ModelView):
    __string__ = "Ticket Configuration"
    __name__ = 'cc.ticket.configuration'
    ticket_sequence = fields.Many2One(
        'ir.sequence', "Ticket Sequence", required=True,
        domain=[('sequence_type', '=', Id('cc_ticket', 'sequence_type_ticket'))])
    second_contact_days = fields.Integer(
        "Second Contact Window (days)", required=True,
        domain=[('second_contact_days', '>=', 0)],
        help="A new ticket of the same customer and type as an open ticket "
        "created within this many days is a second contact (二次受理).")
    calendar = fields.Many2One(
        'cc.calendar', "Default Calendar", ondelete='RESTRICT',
        help="Calendar of SLA targets when neither policy nor team has one; "
        "empty: Monday to Friday 09:00-18:00 with Chinese holidays.")
    first_response_minutes = fields.Integer(
        "Default First Response (business minutes)",
        help="Target when no SLA policy matches.")
    resolution_minutes = fields.Integer(
        "Default Resolution (business minutes)",
        help="Target when no SLA policy matches.")
    follow_up_minutes = fields.Integer(
        "Default Follow-up (business minutes)",
        help="Target when no SLA policy matches (24 business hours).")

    @classmethod
    def default_ticket_sequence(cls):
        ModelData = Pool().get('ir.model.data')
        try:
            return ModelData.get_id('cc_ticket', 'sequence_ticket')
        except KeyError:
            return None

    @classmethod
    def default_second_contact_days(cls):
        return 7

    @classmethod
    def default_first_response_minutes(cls):
        return 60

    @classmethod
    def default_resolution_minutes(cls):
        return 3 * 9 * 60

    @classmethod
    def default_follow_up_minutes(cls):
        return 24 * 60
