from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, fields, sequence_ordered)


class CustomerTier(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    "Customer Tier"
    __name__ = 'cc.customer.tier'
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True)
    routing_priority = fields.Integer(
        "Routing Priority", required=True,
        help="Queue priority given to this tier's callers: higher is served "
        "first.")
    vip = fields.Boolean(
        "VIP", help="VIP callers skip self-service and go to a human agent.")

    @classmethod
    def default_routing_priority(cls):
        return 0
