"Coded reasons an agent gives for being not ready (QueuePause Reason)."
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields, sequence_ordered)


class AgentReason(
        DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    "Not-Ready Reason"
    __name__ = 'cc.agent.reason'
    __string__ = "Not-Ready Reason"
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char(
        "Code", required=True,
        help="Sent to the PBX as the pause reason and read back from its "
        "events, so it must stay stable.")
    productive = fields.Boolean(
        "Productive",
        help="Time in this state counts as work (after-call work, training) "
        "in occupancy and adherence figures.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'cc_telephony.msg_reason_code_unique'),
            ]

    @classmethod
    def default_productive(cls):
        return False

    @classmethod
    def by_code(cls, codes):
        "{code: reason id} of the given codes, unknown ones left out."
        codes = {c for c in codes if c}
        if not codes:
            return {}
        with_inactive = cls.search(
            [('code', 'in', list(codes)), ('active', 'in', [True, False])])
        return {r.code: r.id for r in with_inactive}
