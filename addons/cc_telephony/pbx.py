"PBX connections: where the bridge finds AMI and where Asterisk finds us."
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields
from trytond.pyson import Eval
from trytond.rpc import RPC

BLACKLIST_ACTIONS = [
    ('reject', "Reject"),
    ('ivr', "IVR"),
    ]
STATUSES = [
    ('unknown', "Unknown"),
    ('connected', "Connected"),
    ('disconnected', "Disconnected"),
    ]


class Pbx(DeactivableMixin, ModelSQL, ModelView):
    "PBX"
    __name__ = 'cc.pbx'
    __string__ = "PBX"
    name = fields.Char("Name", required=True)
    code = fields.Char(
        "Code", required=True,
        help="Short identifier used in logs and spool file names.")
    ami_host = fields.Char("AMI Host", required=True)
    ami_port = fields.Integer("AMI Port", required=True)
    ami_username = fields.Char("AMI User", required=True)
    # Readable by administrators only (see ir.model.field.access in pbx.xml):
    # the AMI account can originate calls and spy on agents.
    ami_secret = fields.Char("AMI Secret", strip=False)
    agi_host = fields.Char(
        "FastAGI Listen Host", required=True,
        help="Address the router listens on; Asterisk's dialplan calls "
        "AGI(agi://host:port/route).")
    agi_port = fields.Integer("FastAGI Listen Port", required=True)
    inbound_contexts = fields.Char(
        "Inbound Contexts",
        help="Comma-separated dialplan contexts where trunk calls enter.")
    # Routing policy of the calls this PBX asks the router about.
    default_queue = fields.Many2One(
        'cc.queue', "Default Queue", ondelete='SET NULL',
        help="Queue for dialled numbers that are not a known service.")
    blacklist_action = fields.Selection(
        BLACKLIST_ACTIONS, "Blacklisted Callers", required=True)
    blacklist_ivr = fields.Char(
        "Blacklist IVR",
        states={'required': Eval('blacklist_action') == 'ivr',
            'invisible': Eval('blacklist_action') != 'ivr'},
        help="Extension of the IVR menu blacklisted callers are sent to.")
    red_list_boost = fields.Integer(
        "Red List Priority Boost", required=True,
        help="Added to the queue priority of red-listed callers.")
    vip_boost = fields.Integer(
        "VIP Priority Boost", required=True,
        help="Added to the queue priority of VIP callers.")
    affinity_days = fields.Integer(
        "Last-Agent Affinity (days)", required=True,
        help="A caller served by an agent within this many days is offered "
        "to that agent first when the agent is ready (0: never).")
    status = fields.Selection(STATUSES, "Status", readonly=True)
    last_event = fields.DateTime("Last Event", readonly=True)
    status_message = fields.Char("Status Message", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code), 'cc_telephony.msg_pbx_code_unique'),
            ]
        cls.__rpc__.update({
                'report_status': RPC(readonly=False),
                })

    @classmethod
    def default_ami_host(cls):
        return '127.0.0.1'

    @classmethod
    def default_ami_port(cls):
        return 5038

    @classmethod
    def default_agi_host(cls):
        return '127.0.0.1'

    @classmethod
    def default_agi_port(cls):
        return 4573

    @classmethod
    def default_inbound_contexts(cls):
        return 'from-pstn,from-trunk'

    @classmethod
    def default_blacklist_action(cls):
        return 'reject'

    @classmethod
    def default_red_list_boost(cls):
        return 5

    @classmethod
    def default_vip_boost(cls):
        return 10

    @classmethod
    def default_affinity_days(cls):
        return 30

    @classmethod
    def default_status(cls):
        return 'unknown'

    def get_inbound_contexts(self):
        return tuple(
            c.strip() for c in (self.inbound_contexts or '').split(',')
            if c.strip())

    def routing_policy(self):
        from .routing import Policy
        return Policy(
            default_queue=(
                self.default_queue.code if self.default_queue else None),
            blacklist_action=self.blacklist_action,
            blacklist_ivr=self.blacklist_ivr,
            red_list_boost=self.red_list_boost,
            vip_boost=self.vip_boost,
            affinity_days=self.affinity_days)

    @classmethod
    def report_status(cls, pbx_id, status, last_event=None, message=None):
        """Record what the bridge sees of its AMI link.

        Only changed values are written so that a bridge reporting every few
        seconds does not fill the write log."""
        pbx = cls(pbx_id)
        values = {}
        if pbx.status != status:
            values['status'] = status
        if last_event and (not pbx.last_event or last_event > pbx.last_event):
            values['last_event'] = last_event
        if (message or None) != pbx.status_message:
            values['status_message'] = message
        if values:
            cls.write([pbx], values)
