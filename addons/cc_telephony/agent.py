"Agents: who answers calls, on which phone, with which skills."
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.rpc import RPC
from trytond.transaction import Transaction

AGENT_STATES = [
    ('logged_out', "Logged Out"),
    ('ready', "Ready"),
    ('not_ready', "Not Ready"),
    ('ringing', "Ringing"),
    ('talking', "Talking"),
    ('hold', "On Hold"),
    ('wrap_up', "Wrap-up"),
    ]


class Agent(DeactivableMixin, ModelSQL, ModelView):
    "Agent"
    __name__ = 'cc.agent'
    __string__ = "Agent"
    name = fields.Function(fields.Char("Name"), 'get_name',
        searcher='search_name')
    employee = fields.Many2One(
        'company.employee', "Employee", ondelete='RESTRICT')
    user = fields.Many2One('res.user', "User", ondelete='SET NULL')
    interface = fields.Char(
        "Interface", required=True,
        help="Asterisk device of the agent's phone, e.g. PJSIP/8001.")
    extension = fields.Char("Extension")
    team = fields.Many2One('cc.team', "Team", ondelete='SET NULL')
    skills = fields.One2Many('cc.agent.skill', 'agent', "Skills")
    memberships = fields.One2Many('cc.queue.member', 'agent', "Queues")
    wrapup_seconds = fields.Integer(
        "Wrap-up Time",
        help="After-call work seconds; empty: the queue's.")
    # The live state is written by the bridge as the PBX reports it, so
    # that the router (another process) can read it in one query.
    state = fields.Selection(AGENT_STATES, "State", readonly=True)
    state_since = fields.DateTime("State Since", readonly=True)
    state_reason = fields.Many2One(
        'cc.agent.reason', "Not-Ready Reason", readonly=True,
        ondelete='SET NULL')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('interface_unique', Unique(t, t.interface),
                'cc_telephony.msg_agent_interface_unique'),
            ]
        cls.__rpc__.update({
                'update_live_states': RPC(readonly=False),
                })

    @classmethod
    def default_state(cls):
        return 'logged_out'

    def get_name(self, name):
        if self.employee:
            return self.employee.rec_name
        if self.user:
            return self.user.rec_name
        return self.interface

    @classmethod
    def search_name(cls, name, clause):
        _, operator, operand, *extra = clause
        bool_op = 'AND' if operator.startswith(('!', 'not ')) else 'OR'
        return [bool_op,
            ('employee.rec_name', operator, operand, *extra),
            ('user.rec_name', operator, operand, *extra),
            ('interface', operator, operand, *extra),
            ]

    def get_rec_name(self, name):
        if self.name != self.interface:
            return f'{self.name} ({self.interface})'
        return self.interface

    @classmethod
    def search_rec_name(cls, name, clause):
        return cls.search_name(name, clause)

    @classmethod
    def by_interface(cls, interfaces):
        "{interface: agent id}, inactive agents included (history)."
        interfaces = {i for i in interfaces if i}
        if not interfaces:
            return {}
        agents = cls.search([
                ('interface', 'in', list(interfaces)),
                ('active', 'in', [True, False]),
                ])
        return {a.interface: a.id for a in agents}

    @classmethod
    def routing_profiles(cls):
        """{interface: (name, skills, queues)} of active agents: the part
        of the routing snapshot that changes only with configuration."""
        return {a.interface: (
                a.name,
                {s.skill.code: s.proficiency for s in a.skills},
                {m.queue.code: m.penalty for m in a.memberships
                    if m.queue.active})
            for a in cls.search([])}

    @classmethod
    def live_states(cls):
        "{interface: (state, since)}: one query, read for every call."
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(
                table.interface, table.state, table.state_since,
                where=table.active == True))  # noqa: E712
        return {i: (s or 'logged_out', since) for i, s, since in cursor}

    @classmethod
    def update_live_states(cls, states):
        """Store each agent's current state from the bridge.

        ``states`` are dicts with interface, state, reason (code) and since;
        unknown interfaces are ignored and unchanged agents are not written.
        """
        Reason = Pool().get('cc.agent.reason')
        agents = {a.interface: a for a in cls.browse(
                cls.by_interface(s['interface'] for s in states).values())}
        reasons = Reason.by_code(s.get('reason') for s in states)
        to_write = []
        for live in states:
            agent = agents.get(live['interface'])
            if agent is None:
                continue
            values = {
                'state': live['state'],
                'state_since': live.get('since'),
                'state_reason': reasons.get(live.get('reason')),
                }
            current = {
                'state': agent.state,
                'state_since': agent.state_since,
                'state_reason': (
                    agent.state_reason.id if agent.state_reason else None),
                }
            if values != current:
                to_write.extend(([agent], values))
        if to_write:
            cls.write(*to_write)


class AgentSkill(ModelSQL, ModelView):
    "Agent Skill"
    __name__ = 'cc.agent.skill'
    __string__ = "Agent Skill"
    agent = fields.Many2One(
        'cc.agent', "Agent", required=True, ondelete='CASCADE')
    skill = fields.Many2One(
        'cc.skill', "Skill", required=True, ondelete='RESTRICT')
    proficiency = fields.Integer(
        "Proficiency", required=True,
        help="1 (beginner) to 5 (expert).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('skill_unique', Unique(t, t.agent, t.skill),
                'cc_telephony.msg_agent_skill_unique'),
            ]

    @classmethod
    def default_proficiency(cls):
        return 3

    @classmethod
    def validate_fields(cls, skills, field_names):
        super().validate_fields(skills, field_names)
        cls.check_proficiency(skills)

    @classmethod
    def check_proficiency(cls, skills):
        for skill in skills:
            if not 1 <= skill.proficiency <= 5:
                raise ValidationError(gettext(
                        'cc_telephony.msg_agent_skill_proficiency',
                        agent=skill.agent.rec_name,
                        skill=skill.skill.rec_name))
