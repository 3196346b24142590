"Skills that queues require and agents hold."
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields


class Skill(DeactivableMixin, ModelSQL, ModelView):
    "Skill"
    __name__ = 'cc.skill'
    __string__ = "Skill"
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char(
        "Code", required=True,
        help="Stable identifier used by the routing engine.")
    description = fields.Text("Description", translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'cc_telephony.msg_skill_code_unique'),
            ]
        cls._order.insert(0, ('name', 'ASC'))
