"Queues (skill groups): how Asterisk distributes calls and what they need."
import datetime as dt

from sql import Literal, Null
from sql.aggregate import Avg, Count, Sum
from sql.conditionals import Case, Coalesce

from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

STRATEGIES = [
    ('ringall', "Ring All"),
    ('leastrecent', "Longest Idle"),
    ('fewestcalls', "Fewest Calls"),
    ('rrmemory', "Round Robin with Memory"),
    ('linear', "Linear"),
    ('skills_weighted', "Skills Weighted"),
    ]
NIGHT_KINDS = [
    ('voicemail', "Voicemail"),
    ('ivr', "IVR"),
    ('queue', "Another Queue"),
    ]
BUSY_ACTIONS = [
    ('queue', "Wait in Queue"),
    ('callback', "Offer Callback"),
    ('voicemail', "Voicemail"),
    ]

# The recent past whose service level decides an overflow (TEL-54), and
# whose handle time estimates the expected wait (TEL-50).
SERVICE_LEVEL_MINUTES = 30
# A live call that entered longer ago is not counted as waiting: the
# bridge may never have seen its end (the supervisors' board does the same).
WAITING_HOURS = 4


def service_level_columns(call):
    """Columns of cc.call (table ``call``) to aggregate into a service
    level: offered, answered, abandoned, answered within the threshold."""
    return [Count(call.id),
        Sum(Case((call.answer_time != Null, 1), else_=0)),
        Sum(Case((call.result == 'abandoned', 1), else_=0)),
        Sum(Case((call.within_service_level == Literal(True), 1), else_=0))]


def service_level(answered, abandoned, within):
    """Answered within the threshold over answered plus abandoned, in %;
    None when no call was answered or abandoned."""
    answered, abandoned = int(answered or 0), int(abandoned or 0)
    if not answered + abandoned:
        return None
    return round(100.0 * int(within or 0) / (answered + abandoned), 1)


# app_queue reads the [general] section of queues.conf as its own settings
# (in any case), never as a queue.
ASTERISK_RESERVED_CODES = {'general'}


class Queue(DeactivableMixin, ModelSQL, ModelView):
    "Queue"
    __name__ = 'cc.queue'
    __string__ = "Queue"
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char(
        "Code", required=True,
        help="The queue name in Asterisk (queues.conf section).")
    pbx = fields.Many2One('cc.pbx', "PBX", ondelete='RESTRICT')
    strategy = fields.Selection(
        STRATEGIES, "Strategy", required=True,
        help="Skills Weighted: the router picks the best skilled ready agent "
        "(app_queue has no skills routing) and the queue rings linearly.")
    priority = fields.Integer(
        "Base Priority", required=True,
        help="Queue priority every caller starts with.")
    skills = fields.One2Many('cc.queue.skill', 'queue', "Required Skills")
    members = fields.One2Many('cc.queue.member', 'queue', "Members")
    service_level_seconds = fields.Integer(
        "Service Level Threshold", required=True,
        help="Seconds within which a call must be answered to count as "
        "within service level.")
    max_wait_seconds = fields.Integer(
        "Maximum Wait",
        help="Seconds after which a waiting caller leaves for the overflow "
        "queue (0 or empty: no limit).")
    overflow_queue = fields.Many2One(
        'cc.queue', "Overflow Queue", ondelete='SET NULL',
        domain=[('id', '!=', Eval('id', -1))],
        help="Where callers go after the maximum wait or when no agent is "
        "signed in.")
    overflow_service_level = fields.Float(
        "Overflow Below Service Level (%)", digits=(16, 1),
        states={'invisible': ~Eval('overflow_queue')},
        help="When the service level of the last 30 minutes falls below "
        "this percentage, callers who find every agent busy go to the "
        "overflow queue at once if an agent is ready there. Empty: only "
        "when nobody is signed in or after the maximum wait.")
    calendar = fields.Many2One(
        'cc.calendar', "Opening Hours", ondelete='RESTRICT',
        help="Business calendar (weekly hours, Chinese public holidays and "
        "make-up workdays); empty: open around the clock.")
    night_kind = fields.Selection(
        NIGHT_KINDS, "Night Service", required=True,
        help="What callers get outside opening hours.")
    night_target = fields.Char(
        "Night Target",
        states={'invisible': Eval('night_kind') == 'queue'},
        help="Voicemail box or IVR menu used outside opening hours.")
    night_queue = fields.Many2One(
        'cc.queue', "Night Queue", ondelete='SET NULL',
        domain=[('id', '!=', Eval('id', -1))],
        states={
            'invisible': Eval('night_kind') != 'queue',
            'required': Eval('night_kind') == 'queue',
            })
    busy_action = fields.Selection(
        BUSY_ACTIONS, "When All Agents Are Busy", required=True,
        help="VIP callers always wait for an agent.")
    voicemail_box = fields.Char(
        "Voicemail Box", help="Box used when callers choose voicemail.")
    music_class = fields.Char("Music on Hold Class")
    announcement = fields.Char(
        "Announcement", help="Sound played to callers before queueing.")
    wrapup_seconds = fields.Integer(
        "Wrap-up Time", required=True,
        help="After-call work seconds given to agents of this queue.")
    announce_wait = fields.Boolean(
        "Announce Expected Wait",
        help="Callers who find every agent busy hear how many minutes "
        "they are expected to wait: the callers waiting and them, times "
        "the handle time of the last 30 minutes, over the busy agents.")
    choice_above_seconds = fields.Integer(
        "Offer Choices Above",
        help="When the expected wait is longer than these seconds, callers "
        "are told it and may ask for a callback, leave a message, go to "
        "the choice extension or hear information instead of waiting "
        "(empty: never). VIP callers always wait for an agent.")
    choice_extension = fields.Char(
        "Choice Extension",
        states={'invisible': ~Eval('choice_above_seconds')},
        help="Extension offered among those choices (an operator, a "
        "self-service line); empty: not offered.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'cc_telephony.msg_queue_code_unique'),
            ]
        cls._order.insert(0, ('name', 'ASC'))

    @classmethod
    def default_strategy(cls):
        return 'rrmemory'

    @classmethod
    def default_priority(cls):
        return 0

    @classmethod
    def default_service_level_seconds(cls):
        return 20

    @classmethod
    def default_max_wait_seconds(cls):
        return 300

    @classmethod
    def default_night_kind(cls):
        return 'voicemail'

    @classmethod
    def default_busy_action(cls):
        return 'queue'

    @classmethod
    def default_music_class(cls):
        return 'default'

    @classmethod
    def default_wrapup_seconds(cls):
        return 10

    @classmethod
    def validate_fields(cls, queues, field_names):
        super().validate_fields(queues, field_names)
        cls.check_durations(queues, field_names)
        cls.check_codes(queues, field_names)
        cls.check_overflow_service_level(queues, field_names)
        cls.check_choice_extensions(queues, field_names)

    @classmethod
    def check_choice_extensions(cls, queues, field_names=None):
        "The dialplan dials the choice extension as the console dials."
        if field_names and 'choice_extension' not in field_names:
            return
        Agent = Pool().get('cc.agent')
        for queue in queues:
            if not queue.choice_extension:
                continue
            try:
                Agent._dial_number(queue.choice_extension)
            except UserError as error:
                raise ValidationError(gettext(
                        'cc_telephony.msg_queue_choice_extension',
                        queue=queue.rec_name,
                        extension=queue.choice_extension,
                        reason=error.message)) from error

    @classmethod
    def check_overflow_service_level(cls, queues, field_names=None):
        if field_names and 'overflow_service_level' not in field_names:
            return
        for queue in queues:
            level = queue.overflow_service_level
            if level is not None and not 0 < level <= 100:
                raise ValidationError(gettext(
                        'cc_telephony.msg_queue_overflow_service_level',
                        queue=queue.rec_name, level=level))

    @classmethod
    def check_codes(cls, queues, field_names=None):
        "A code must be able to name a queue of Asterisk's queues.conf."
        if field_names and 'code' not in field_names:
            return
        for queue in queues:
            if queue.code.strip().lower() in ASTERISK_RESERVED_CODES:
                raise ValidationError(gettext(
                        'cc_telephony.msg_queue_code_reserved',
                        queue=queue.rec_name, code=queue.code))

    @classmethod
    def check_durations(cls, queues, field_names=None):
        names = {'service_level_seconds', 'max_wait_seconds',
            'wrapup_seconds', 'choice_above_seconds'}
        if field_names and not (names & set(field_names)):
            return
        for queue in queues:
            for name in sorted(names):
                if (getattr(queue, name) or 0) < 0:
                    raise ValidationError(gettext(
                            'cc_telephony.msg_queue_negative_duration',
                            queue=queue.rec_name,
                            field=cls.__names__(name)['field']))

    @classmethod
    def by_codes(cls, codes):
        "{code: queue id} of the given Asterisk queue names."
        codes = {c for c in codes if c}
        if not codes:
            return {}
        queues = cls.search([
                ('code', 'in', list(codes)),
                ('active', 'in', [True, False]),
                ])
        return {q.code: q.id for q in queues}

    @classmethod
    def recent_service_levels(cls, now, minutes=SERVICE_LEVEL_MINUTES):
        """{queue code: service level (%) of the calls that entered it in
        the last ``minutes``} of the queues that overflow on it (TEL-54);
        None for a queue without answered or abandoned calls."""
        pool = Pool()
        call = pool.get('cc.call').__table__()
        queue = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*call.join(queue,
                condition=call.queue == queue.id).select(queue.code,
                *service_level_columns(call)[1:],
                where=(queue.overflow_service_level != Null)
                & (queue.active == Literal(True))
                & (call.enter_time >= now - dt.timedelta(minutes=minutes)),
                group_by=[queue.code]))
        return {code: service_level(answered, abandoned, within)
            for code, answered, abandoned, within in cursor}

    @classmethod
    def recent_loads(cls, now, minutes=SERVICE_LEVEL_MINUTES, ids=None):
        """{queue code: routing.QueueLoad} of the queues ``ids``, or of
        those that tell the expected wait or offer choices on it (TEL-50):
        the callers waiting now, and the mean talk, hold and wrap-up
        seconds of the calls that entered in the last ``minutes`` and ended
        answered."""
        from .routing import QueueLoad
        pool = Pool()
        call = pool.get('cc.call').__table__()
        queue = cls.__table__()
        waiting_since = now - dt.timedelta(hours=WAITING_HOURS)
        handled_since = now - dt.timedelta(minutes=minutes)
        waiting = (call.state == 'live') & (call.answer_time == Null)
        handled = ((call.state == 'ended') & (call.answer_time != Null)
            & (call.enter_time >= handled_since))
        handle = (Coalesce(call.talk_seconds, 0)
            + Coalesce(call.hold_seconds, 0)
            + Coalesce(call.wrapup_seconds, 0))
        cursor = Transaction().connection.cursor()
        cursor.execute(*queue.join(call, 'LEFT',
                condition=(call.queue == queue.id)
                & (call.enter_time >= waiting_since)).select(queue.code,
                Sum(Case((waiting, 1), else_=0)),
                Avg(Case((handled, handle), else_=Null)),
                where=(queue.active == Literal(True))
                & (queue.id.in_(ids) if ids is not None
                    else (queue.announce_wait == Literal(True))
                    | (queue.choice_above_seconds > 0)),
                group_by=[queue.code]))
        return {code: QueueLoad(int(count or 0),
                float(seconds) if seconds is not None else None)
            for code, count, seconds in cursor}

    @classmethod
    def routing_snapshot(cls):
        "{code: routing.Queue} of the active queues (see routing.py)."
        from .routing import Queue as RoutingQueue
        Agent = Pool().get('cc.agent')
        snapshot = {}
        for queue in cls.search([]):
            snapshot[queue.code] = RoutingQueue(
                code=queue.code,
                name=queue.name,
                strategy=queue.strategy,
                priority=queue.priority,
                skills={s.skill.code: (s.min_proficiency, s.weight)
                    for s in queue.skills},
                overflow=(queue.overflow_queue.code
                    if queue.overflow_queue else None),
                max_wait=queue.max_wait_seconds or None,
                overflow_service_level=queue.overflow_service_level,
                night_kind=queue.night_kind,
                night_target=queue.night_target,
                night_queue=(queue.night_queue.code
                    if queue.night_queue else None),
                busy_action=queue.busy_action,
                voicemail_box=queue.voicemail_box,
                announcement=queue.announcement,
                calendar=queue.routing_calendar(),
                announce_wait=bool(queue.announce_wait),
                choice_above=queue.choice_above_seconds or None,
                choice_extension=(Agent._dial_number(queue.choice_extension)
                    if queue.choice_extension else None))
        return snapshot

    def routing_calendar(self):
        "The queue's BusinessCalendar for routing; None: always open."
        if self.calendar:
            return Pool().get('cc.calendar').engine(self.calendar.id)

    def is_open(self, moment):
        "Whether the queue takes calls at the naive UTC ``moment``."
        calendar = self.routing_calendar()
        return calendar is None or calendar.is_open(moment)


class QueueSkill(ModelSQL, ModelView):
    "Queue Required Skill"
    __name__ = 'cc.queue.skill'
    __string__ = "Queue Required Skill"
    queue = fields.Many2One(
        'cc.queue', "Queue", required=True, ondelete='CASCADE')
    skill = fields.Many2One(
        'cc.skill', "Skill", required=True, ondelete='RESTRICT')
    min_proficiency = fields.Integer(
        "Minimum Proficiency", required=True,
        domain=[('min_proficiency', '>=', 1), ('min_proficiency', '<=', 5)],
        help="1 (beginner) to 5 (expert).")
    weight = fields.Integer(
        "Weight", required=True,
        help="How much this skill counts when ranking agents.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('skill_unique', Unique(t, t.queue, t.skill),
                'cc_telephony.msg_queue_skill_unique'),
            ]

    @classmethod
    def default_min_proficiency(cls):
        return 1

    @classmethod
    def default_weight(cls):
        return 1


class QueueMember(ModelSQL, ModelView):
    "Queue Member"
    __name__ = 'cc.queue.member'
    __string__ = "Queue Member"
    queue = fields.Many2One(
        'cc.queue', "Queue", required=True, ondelete='CASCADE')
    agent = fields.Many2One(
        'cc.agent', "Agent", required=True, ondelete='CASCADE')
    penalty = fields.Integer(
        "Penalty", required=True,
        domain=[('penalty', '>=', 0)],
        help="Lower penalties are rung first (Asterisk QueueAdd Penalty).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('agent_unique', Unique(t, t.queue, t.agent),
                'cc_telephony.msg_queue_member_unique'),
            ]

    @classmethod
    def default_penalty(cls):
        return 0
