import datetime

from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

CHANNELS = [
    ('phone', "Phone"),
    ('sms', "SMS"),
    ('email', "Email"),
    ('fax', "Fax"),
    ('web', "Web"),
    ('voicemail', "Voicemail"),
    ('letter', "Letter"),
    ('walk_in', "Walk-in"),
    ]
DIRECTIONS = [
    ('inbound', "Inbound"),
    ('outbound', "Outbound"),
    ]


class Interaction(ModelSQL, ModelView):
    __name__ = 'cc.interaction'
    __string__ = "Contact"
    channel = fields.Selection(CHANNELS, "Channel", required=True)
    channel_string = channel.translated('channel')
    direction = fields.Selection(DIRECTIONS, "Direction", required=True)
    direction_string = direction.translated('direction')
    start = fields.DateTime("Start", required=True)
    end = fields.DateTime("End", domain=['OR',
            ('end', '=', None),
            ('end', '>=', Eval('start', None)),
            ])
    duration = fields.Function(
        fields.TimeDelta("Duration"), 'get_duration')
    party = fields.Many2One('party.party', "Party", ondelete='RESTRICT')
    number = fields.Char(
        "Contact Address",
        help="Phone number, email address or other address of the contact.")
    agent = fields.Many2One('res.user', "Agent", ondelete='RESTRICT')
    team = fields.Many2One('cc.team', "Team", ondelete='SET NULL')
    summary = fields.Text("Summary")
    origin = fields.Reference(
        "Origin", selection='get_origin', readonly=True,
        help="The record this contact produced (call, ticket, survey…).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.party, Index.Range()), (t.start, Index.Range())),
                Index(t, (t.agent, Index.Range()), (t.start, Index.Range())),
                Index(t, (t.origin, Index.Equality())),
                })
        cls._order = [('start', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_start(cls):
        return datetime.datetime.now().replace(microsecond=0)

    @classmethod
    def default_direction(cls):
        return 'inbound'

    @classmethod
    def default_channel(cls):
        return 'phone'

    @classmethod
    def default_agent(cls):
        return Transaction().user

    @classmethod
    def default_team(cls):
        team_ids = Pool().get('cc.team').user_team_ids()
        return team_ids[0] if team_ids else None

    def get_duration(self, name):
        if self.start and self.end:
            return self.end - self.start

    def get_rec_name(self, name):
        return '%s %s %s' % (
            self.channel_string, self.direction_string,
            self.start.strftime('%Y-%m-%d %H:%M') if self.start else '')

    @classmethod
    def _get_origin(cls):
        "Models whose records a contact can produce; modules extend it."
        return []

    @classmethod
    def get_origin(cls):
        IrModel = Pool().get('ir.model')
        get_name = IrModel.get_name
        return [(None, '')] + [(m, get_name(m)) for m in cls._get_origin()]
