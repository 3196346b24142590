"""Ticket types: a configurable tree with required fields per type."""
from trytond.cache import Cache
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, fields, tree)
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool

KINDS = [
    ('consultation', "Consultation"),
    ('request', "Service Request"),
    ('complaint', "Complaint"),
    ('fault', "Fault Report"),
    ('suggestion', "Suggestion"),
    ('billing', "Billing Adjustment"),
    ('other', "Other"),
    ]


class TicketType(DeactivableMixin, tree(separator=' / '), ModelSQL, ModelView):
    __string__ = "Ticket Type"
    __name__ = 'cc.ticket.type'
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code")
    parent = fields.Many2One(
        'cc.ticket.type', "Parent", ondelete='RESTRICT')
    children = fields.One2Many('cc.ticket.type', 'parent', "Children")
    kind = fields.Selection(
        KINDS, "Kind", required=True,
        help="What the business counts the ticket as in statistics.")
    required_fields = fields.Many2Many(
        'cc.ticket.type-ir.model.field', 'type', 'field', "Required Fields",
        domain=[('model', '=', 'cc.ticket')],
        help="Ticket fields that must be filled before the ticket is "
        "accepted; sub-types inherit them.")
    compensation_allowed = fields.Boolean(
        "Compensation Allowed",
        help="Whether compensations can be granted on such tickets.")
    follow_up = fields.Boolean(
        "Follow-up Visit",
        help="Resolved tickets get a follow-up visit (回访) task.")
    answer_wording = fields.Text(
        "Agreed Answer", translate=True,
        help="Standard wording (统一口径) agents should give.")
    # Every ticket created or edited checks its type's required fields;
    # reading the Many2Many up the tree each time cost more than the rest
    # of the validation.
    _required_cache = Cache('cc.ticket.type.required_fields', context=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))

    @classmethod
    def default_kind(cls):
        return 'consultation'

    @classmethod
    def default_follow_up(cls):
        return True

    @classmethod
    def default_compensation_allowed(cls):
        return False

    def all_required_fields(self):
        "Required fields of the type and of its ancestors."
        Field = Pool().get('ir.model.field')
        return Field.browse([i for i, _ in self.required_field_names()])

    def required_field_names(self):
        "``(id, name)`` of the required fields of the type and its ancestors."
        key = self.id
        result = self._required_cache.get(key)
        if result is None:
            result, type_ = [], self
            while type_:
                result.extend((f.id, f.name) for f in type_.required_fields
                    if (f.id, f.name) not in result)
                type_ = type_.parent
            result = self._required_cache.set(key, tuple(result))
        return result

    def check_ticket(self, ticket):
        "Raise a ValidationError naming the first required field missing."
        Field = Pool().get('ir.model.field')
        for field_id, name in self.required_field_names():
            if not getattr(ticket, name, None):
                raise ValidationError(gettext(
                        'cc_ticket.msg_ticket_type_required_field',
                        field=Field(field_id).string,
                        type=self.rec_name,
                        ticket=ticket.rec_name))

    @classmethod
    def on_modification(cls, mode, types, field_names=None):
        super().on_modification(mode, types, field_names=field_names)
        # A parent or the required fields changed: sub-types inherit them.
        cls._required_cache.clear()


class TicketTypeField(ModelSQL):
    __string__ = "Ticket Type - Required Field"
    __name__ = 'cc.ticket.type-ir.model.field'
    type = fields.Many2One(
        'cc.ticket.type', "Type", required=True, ondelete='CASCADE')
    field = fields.Many2One(
        'ir.model.field', "Field", required=True, ondelete='CASCADE')

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        Pool().get('cc.ticket.type')._required_cache.clear()
