from trytond.cache import Cache
from trytond.model import DeactivableMixin, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction


class Team(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'cc.team'
    __string__ = "Contact Center Team"
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code")
    leader = fields.Many2One('res.user', "Team Leader", ondelete='SET NULL')
    manager = fields.Many2One('res.user', "Manager", ondelete='SET NULL')
    users = fields.Many2Many('cc.team-res.user', 'team', 'user', "Members")
    _user_teams_cache = Cache('cc.team.user_teams', context=False)

    @classmethod
    def on_modification(cls, mode, teams, field_names=None):
        super().on_modification(mode, teams, field_names=field_names)
        cls._clear_user_teams()

    @classmethod
    def _clear_user_teams(cls):
        # The record-rule cache key holds the team ids (see Rule), so
        # clearing the teams is enough to refresh the rules.
        cls._user_teams_cache.clear()

    @classmethod
    def user_team_ids(cls, user_id=None):
        "Teams a user belongs to or leads (cached)."
        if user_id is None:
            user_id = Transaction().user
        team_ids = cls._user_teams_cache.get(user_id)
        if team_ids is None:
            team_ids = cls._user_teams_cache.set(
                user_id, cls._query_user_team_ids(user_id))
        return team_ids

    @classmethod
    def _query_user_team_ids(cls, user_id):
        # Plain SQL: record rules call this, so the ORM (and its rules)
        # must not be used here.
        team = cls.__table__()
        member = Pool().get('cc.team-res.user').__table__()
        cursor = Transaction().connection.cursor()
        members = member.select(member.team, where=member.user == user_id)
        cursor.execute(*team.select(team.id,
                where=(team.active == True)  # noqa: E712
                & (team.id.in_(members)
                    | (team.leader == user_id)
                    | (team.manager == user_id)),
                order_by=[team.id]))
        return [i for i, in cursor]


class TeamUser(ModelSQL):
    __name__ = 'cc.team-res.user'
    __string__ = "Contact Center Team - User"
    team = fields.Many2One(
        'cc.team', "Team", required=True, ondelete='CASCADE')
    user = fields.Many2One(
        'res.user', "User", required=True, ondelete='CASCADE')

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        Pool().get('cc.team')._clear_user_teams()


class User(metaclass=PoolMeta):
    __name__ = 'res.user'
    cc_teams = fields.Many2Many(
        'cc.team-res.user', 'user', 'team', "Contact Center Teams")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._context_fields.insert(0, 'cc_teams')


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _get_cache_key(cls, model_names):
        key = super()._get_cache_key(model_names)
        return (*key, Transaction().user,
            tuple(Pool().get('cc.team').user_team_ids()))

    @classmethod
    def _get_context(cls, model_name):
        context = super()._get_context(model_name)
        context['cc_teams'] = Pool().get('cc.team').user_team_ids()
        context['user_id'] = Transaction().user
        return context
