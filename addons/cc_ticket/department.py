"""Back-office departments that tickets are dispatched to."""
from trytond.cache import Cache
from trytond.model import DeactivableMixin, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction


class Department(DeactivableMixin, ModelSQL, ModelView):
    __string__ = "Ticket Department"
    __name__ = 'cc.department'
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code")
    parent = fields.Many2One(
        'cc.department', "Parent", ondelete='RESTRICT',
        help="E.g. a prefecture branch under a provincial company.")
    users = fields.Many2Many(
        'cc.department-res.user', 'department', 'user', "Members",
        help="Users who receive, accept or reject dispatched tickets.")
    email = fields.Char("Email")
    _user_departments_cache = Cache(
        'cc.department.user_departments', context=False)

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        cls._clear_user_departments()

    @classmethod
    def _clear_user_departments(cls):
        cls._user_departments_cache.clear()
        # Record rules use the departments of the user.
        Pool().get('ir.rule')._domain_get_cache.clear()

    @classmethod
    def user_department_ids(cls, user_id=None):
        "Departments the user is a member of (cached)."
        if user_id is None:
            user_id = Transaction().user
        ids = cls._user_departments_cache.get(user_id)
        if ids is None:
            # Plain SQL: this runs while record rules are being computed.
            table = Pool().get('cc.department-res.user').__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.select(
                    table.department, where=table.user == user_id,
                    group_by=[table.department],
                    order_by=[table.department]))
            ids = [d for d, in cursor]
            cls._user_departments_cache.set(user_id, ids)
        return ids


class DepartmentUser(ModelSQL):
    __string__ = "Ticket Department - User"
    __name__ = 'cc.department-res.user'
    department = fields.Many2One(
        'cc.department', "Department", required=True, ondelete='CASCADE')
    user = fields.Many2One(
        'res.user', "User", required=True, ondelete='CASCADE')

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        Pool().get('cc.department')._clear_user_departments()


class User(metaclass=PoolMeta):
    __name__ = 'res.user'
    cc_departments = fields.Many2Many(
        'cc.department-res.user', 'user', 'department', "Ticket Departments")
    cc_mobile = fields.Char(
        "Mobile for Alerts",
        help="E.164 number that receives SLA escalations by SMS.")


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _get_cache_key(cls, model_names):
        key = super()._get_cache_key(model_names)
        return (*key, tuple(
                Pool().get('cc.department').user_department_ids()))

    @classmethod
    def _get_context(cls, model_name):
        context = super()._get_context(model_name)
        context['cc_departments'] = (
            Pool().get('cc.department').user_department_ids())
        return context
