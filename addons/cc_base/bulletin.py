import datetime

from sql import Literal
from sql.aggregate import Count
from sql.conditionals import Case

from trytond import backend
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .workflow import WorkflowFieldsMixin

AUDIENCES = [
    ('all', "All Agents"),
    ('groups', "Selected Groups"),
    ]
PRIORITIES = [
    ('normal', "Normal"),
    ('high', "High"),
    ('urgent', "Urgent"),
    ]


class Bulletin(WorkflowFieldsMixin, Workflow, ModelSQL, ModelView):
    __string__ = "Bulletin"
    __name__ = 'cc.bulletin'
    _states = {
        'readonly': Eval('state') != 'draft',
        }
    title = fields.Char("Title", required=True, states=_states)
    body = fields.Text("Body", states=_states)
    audience = fields.Selection(
        AUDIENCES, "Audience", required=True, states=_states)
    groups = fields.Many2Many(
        'cc.bulletin-res.group', 'bulletin', 'group', "Groups",
        states={
            'readonly': _states['readonly'],
            'invisible': Eval('audience') != 'groups',
            'required': Eval('audience') == 'groups',
            })
    valid_from = fields.DateTime("Valid From", required=True, states=_states)
    valid_to = fields.DateTime("Valid To", states=_states, domain=[
            If(Eval('valid_to'),
                ('valid_to', '>=', Eval('valid_from', None)),
                ()),
            ])
    priority = fields.Selection(
        PRIORITIES, "Priority", required=True, sort=False, states=_states)
    state = fields.Selection([
            ('draft', "Draft"),
            ('published', "Published"),
            ], "State", required=True, readonly=True, sort=False)
    published_by = fields.Many2One(
        'res.user', "Published By", readonly=True, ondelete='RESTRICT')
    receipts = fields.One2Many(
        'cc.bulletin.receipt', 'bulletin', "Read Receipts", readonly=True)
    current = fields.Function(
        fields.Boolean("Currently Valid"), 'get_current',
        searcher='search_current')
    for_me = fields.Function(
        fields.Boolean("For Me"), 'get_for_me', searcher='search_for_me')
    read_by_me = fields.Function(
        fields.Boolean("Read"), 'get_read_by_me', searcher='search_read_by_me')
    read_count = fields.Function(
        fields.Integer("Read By"), 'get_counts')
    target_count = fields.Function(
        fields.Integer("Targeted Users"), 'get_counts')
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.valid_from, Index.Range()),
                    where=t.state == 'published'),
                })
        cls._order = [
            ('priority', 'DESC'), ('valid_from', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'published'),
            ('published', 'draft'),
            }
        cls._buttons.update({
                'draft': {
                    'invisible': Eval('state') != 'published',
                    'icon': 'tryton-back',
                    },
                'publish': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-ok',
                    },
                'mark_read': {
                    'invisible': (Eval('state') != 'published')
                    | Eval('read_by_me', False),
                    'icon': 'tryton-ok',
                    'depends': ['read_by_me'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def _workflow_create_values(cls):
        return {
            **super()._workflow_create_values(),
            'state': 'draft',
            'published_by': None,
            }

    @classmethod
    def default_audience(cls):
        return 'all'

    @classmethod
    def default_priority(cls):
        return 'normal'

    @classmethod
    def default_valid_from(cls):
        return datetime.datetime.now().replace(microsecond=0)

    @staticmethod
    def order_priority(tables):
        # Selection values sort by name; urgent news must come first.
        table, _ = tables[None]
        return [Case(*((table.priority == k, i)
                    for i, (k, _) in enumerate(PRIORITIES)), else_=0)]

    def get_current(self, name):
        now = datetime.datetime.now()
        return (self.valid_from <= now
            and (not self.valid_to or self.valid_to >= now))

    @classmethod
    def search_current(cls, name, clause):
        now = datetime.datetime.now()
        _, operator, value = clause[:3]
        if (operator == '=') == bool(value):
            return [
                ('valid_from', '<=', now),
                ['OR', ('valid_to', '=', None), ('valid_to', '>=', now)],
                ]
        return ['OR', ('valid_from', '>', now), ('valid_to', '<', now)]

    def get_for_me(self, name):
        groups = set(Pool().get('res.user').get_groups())
        return (self.audience == 'all'
            or bool(groups & {g.id for g in self.groups}))

    @classmethod
    def search_for_me(cls, name, clause):
        groups = list(Pool().get('res.user').get_groups())
        _, operator, value = clause[:3]
        domain = ['OR',
            ('audience', '=', 'all'),
            ('groups', 'in', groups),
            ]
        if (operator == '=') == bool(value):
            return domain
        return [
            ('audience', '!=', 'all'),
            ('groups', 'not in', groups),
            ]

    @classmethod
    def _my_receipts(cls):
        Receipt = Pool().get('cc.bulletin.receipt')
        receipt = Receipt.__table__()
        return receipt.select(receipt.bulletin,
            where=receipt.user == Transaction().user)

    @classmethod
    def get_read_by_me(cls, bulletins, name):
        Receipt = Pool().get('cc.bulletin.receipt')
        receipt = Receipt.__table__()
        cursor = Transaction().connection.cursor()
        in_ = fields.SQL_OPERATORS['in']
        read = set()
        for sub in grouped_slice(bulletins, backend.MAX_QUERY_PARAMS):
            cursor.execute(*receipt.select(receipt.bulletin,
                    where=(receipt.user == Transaction().user)
                    & in_(receipt.bulletin, [b.id for b in sub])))
            read.update(b for b, in cursor)
        return {b.id: b.id in read for b in bulletins}

    @classmethod
    def search_read_by_me(cls, name, clause):
        _, operator, value = clause[:3]
        operator = 'in' if (operator == '=') == bool(value) else 'not in'
        return [('id', operator, cls._my_receipts())]

    @classmethod
    def get_counts(cls, bulletins, names):
        result = {n: {} for n in names}
        if 'read_count' in names:
            result['read_count'] = cls._count_receipts(bulletins)
        if 'target_count' in names:
            result['target_count'] = {
                b.id: b._count_targets() for b in bulletins}
        return result

    @classmethod
    def _count_receipts(cls, bulletins):
        # In SQL: an agent's record rule shows them only their own receipt.
        Receipt = Pool().get('cc.bulletin.receipt')
        receipt = Receipt.__table__()
        cursor = Transaction().connection.cursor()
        in_ = fields.SQL_OPERATORS['in']
        counts = {b.id: 0 for b in bulletins}
        for sub in grouped_slice(bulletins, backend.MAX_QUERY_PARAMS):
            cursor.execute(*receipt.select(
                    receipt.bulletin, Count(),
                    where=in_(receipt.bulletin, [b.id for b in sub]),
                    group_by=[receipt.bulletin]))
            counts.update(cursor)
        return counts

    def _count_targets(self):
        "Active users the bulletin is meant for."
        pool = Pool()
        User = pool.get('res.user')
        UserGroup = pool.get('res.user-res.group')
        ModelData = pool.get('ir.model.data')
        user = User.__table__()
        # Through parent groups: a team leader is an agent too.
        user_group = UserGroup.user_group_all_table()
        if self.audience == 'all':
            group_ids = [ModelData.get_id('cc_base', 'group_cc_agent')]
        else:
            group_ids = [g.id for g in self.groups]
        if not group_ids:
            return 0
        cursor = Transaction().connection.cursor()
        cursor.execute(*user_group.join(user,
                condition=user_group.user == user.id
                ).select(Count(user_group.user, distinct=True),
                where=user_group.group.in_(group_ids)
                & (user.active == Literal(True))))
        return cursor.fetchone()[0]

    @classmethod
    def copy(cls, bulletins, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('receipts', None)
        default.setdefault('published_by', None)
        return super().copy(bulletins, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, bulletins):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('published')
    def publish(cls, bulletins):
        cls.write(bulletins, {'published_by': Transaction().user})

    @classmethod
    @ModelView.button
    def mark_read(cls, bulletins):
        Pool().get('cc.bulletin.receipt').mark(bulletins)


class BulletinGroup(ModelSQL):
    __string__ = "Bulletin - Group"
    __name__ = 'cc.bulletin-res.group'
    bulletin = fields.Many2One(
        'cc.bulletin', "Bulletin", required=True, ondelete='CASCADE')
    group = fields.Many2One(
        'res.group', "Group", required=True, ondelete='CASCADE')


class Receipt(ModelSQL, ModelView):
    __string__ = "Bulletin Read Receipt"
    __name__ = 'cc.bulletin.receipt'
    bulletin = fields.Many2One(
        'cc.bulletin', "Bulletin", required=True, readonly=True,
        ondelete='CASCADE')
    user = fields.Many2One(
        'res.user', "User", required=True, readonly=True,
        ondelete='CASCADE')
    read_at = fields.DateTime("Read At", required=True, readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('bulletin_user_unique', Unique(t, t.bulletin, t.user),
                'cc_base.msg_bulletin_receipt_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.user, Index.Range()), (t.bulletin, Index.Range())))
        cls._order = [('read_at', 'DESC'), ('id', 'DESC')]

    @classmethod
    def mark(cls, bulletins, user=None):
        "Record that user (default: the current one) read the bulletins."
        if user is None:
            user = Transaction().user
        done = {r.bulletin.id for r in cls.search([
                    ('user', '=', user),
                    ('bulletin', 'in', [b.id for b in bulletins]),
                    ])}
        now = datetime.datetime.now()
        cls.save([cls(bulletin=b, user=user, read_at=now)
                for b in bulletins if b.id not in done])
