"Dialled numbers (DNIS): which service a caller asked for."
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields


class Dnis(DeactivableMixin, ModelSQL, ModelView):
    "Dialled Number"
    __name__ = 'cc.dnis'
    __string__ = "Dialled Number"
    number = fields.Char(
        "Number", required=True,
        help="The number as the PBX delivers it (extension or DID).")
    service = fields.Char("Service", required=True, translate=True)
    queue = fields.Many2One(
        'cc.queue', "Queue", required=True, ondelete='RESTRICT')
    priority = fields.Integer(
        "Priority Bonus",
        help="Added to the caller's queue priority for this service.")
    announcement = fields.Char(
        "Announcement",
        help="Sound played before queueing; overrides the queue's.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('number_unique', Unique(t, t.number),
                'cc_telephony.msg_dnis_number_unique'),
            ]
        cls._order.insert(0, ('number', 'ASC'))

    @classmethod
    def default_priority(cls):
        return 0

    @classmethod
    def routing_snapshot(cls):
        "{number: routing.Service} of the active dialled numbers."
        from .routing import Service
        return {d.number: Service(d.number, d.service, d.queue.code,
                priority=d.priority or 0, announcement=d.announcement)
            for d in cls.search([]) if d.queue.active}

    def get_rec_name(self, name):
        return f'{self.number} {self.service}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('number', operator, operand, *extra),
            ('service', operator, operand, *extra),
            ]
