from trytond.cache import Cache
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, fields, sequence_ordered)


class CustomerTier(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    __name__ = 'cc.customer.tier'
    __string__ = "Customer Tier"
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True)
    routing_priority = fields.Integer(
        "Routing Priority", required=True,
        help="Queue priority given to this tier's callers: higher is served "
        "first.")
    vip = fields.Boolean(
        "VIP", help="VIP callers skip self-service and go to a human agent.")

    _summaries_cache = Cache('cc.customer.tier.summaries')

    @classmethod
    def default_routing_priority(cls):
        return 0

    @classmethod
    def summaries(cls):
        "{id: {name, routing_priority, vip}} of every tier, cached."
        summaries = cls._summaries_cache.get(None)
        if summaries is None:
            summaries = cls._summaries_cache.set(None, {
                    t.id: {'name': t.rec_name,
                        'routing_priority': t.routing_priority,
                        'vip': bool(t.vip)}
                    for t in cls.search([
                            ('active', 'in', [True, False])])})
        return summaries

    @classmethod
    def on_modification(cls, mode, tiers, field_names=None):
        super().on_modification(mode, tiers, field_names=field_names)
        cls._summaries_cache.clear()
