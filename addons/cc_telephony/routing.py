"""Where an inbound call goes: the router's pure decision engine.

No ORM, no I/O: the router service builds a :class:`Request` (who calls,
what was dialled, when, and a snapshot of queues and agents) and
:func:`decide` returns a :class:`Decision` whose :meth:`Decision.variables`
are the channel variables the dialplan reads:

``CC_ACTION``
    ``queue`` (join ``CC_QUEUE``), ``callback`` (offer a callback, queue in
    ``CC_QUEUE`` if declined), ``choice`` (the expected wait is too long:
    tell it and offer a callback, a message, another extension or
    information, queue in ``CC_QUEUE`` if none is taken), ``voicemail``,
    ``night`` (closed: night service), ``ivr`` or ``reject``.
``CC_QUEUE``, ``CC_PRIORITY``, ``CC_AGENT``, ``CC_ANNOUNCE``
    Queue name, queue priority (higher first), preferred agent interface
    (rung first) and sound played before queueing: the announcement in
    force for the call, else the service's or the queue's own.
``CC_TARGET``
    Argument of the action: ``reject``, ``voicemail`` or the extension of an
    IVR menu; empty when the caller is queued. ``CC_MAILBOX`` names the
    voicemail box when one is configured.
``CC_TIMEOUT``, ``CC_OVERFLOW``
    For a queued caller: the seconds the caller may wait in ``CC_QUEUE``
    (the timeout argument of ``Queue()``; empty: no limit) and the queue
    the dialplan sends the caller to when that wait is over (empty: none).
    Both are the settings of ``CC_QUEUE`` itself, also when that queue is
    an overflow or night service queue.
``CC_WAIT_MINUTES``, ``CC_CHOICE_EXTEN``
    The caller's expected wait in whole minutes (rounded up), told before
    queueing when the queue announces it (empty: not told, or unknown),
    and the extension the ``choice`` menu offers (empty: none).
``CC_REASON``
    Comma-separated codes of the rules that fired (``blacklist``, ``vip``,
    ``affinity`` …); the steps of ``Decision.steps`` say the same for
    people (sentences of :data:`SENTENCES`, translated in the web client)
    and are stored on the call.

Rules, in order: the dialled number selects a service and its queue;
blacklisted callers are rejected or sent to an IVR; outside opening hours
(holidays included, through the queue's calendar) callers get the night
service; red-list and VIP callers get a higher priority; the agent who last
served the caller is preferred if ready; queues that need skills prefer the
best skilled ready agent; when no suitable agent is ready callers are offered
a callback or voicemail, except VIP callers who always reach a human;
callers whose expected wait is over the queue's limit are told it and
offered choices (TEL-50).
A queued caller hears the announcement in force for the call (time window,
dialled number, queue and caller region), urgent notices first.
"""
import datetime as dt
import math
from dataclasses import dataclass, field
IDLE_STATES = ('logged_out',)
# The states of an agent who will take a queued call once free.
BUSY_STATES = ('ringing', 'talking', 'hold', 'wrap_up')
# The sentences a decision is explained with, by step key. The web client
# shows them translated: each is the message cc_telephony.msg_routing_<key>
# (message.xml), whose English text is the same.
SENTENCES = {
    'service': 'Dialled %(number)s: service "%(service)s", queue %(queue)s.',
    'default_queue': 'Dialled number %(number)s is not a known service: '
    'default queue %(queue)s.',
    'no_queue': 'No queue serves this number: voicemail.',
    'blacklist_ivr': 'Caller %(number)s is blacklisted: sent to IVR '
    '%(ivr)s.',
    'blacklist_reject': 'Caller %(number)s is blacklisted: rejected.',
    'night_queue': 'Queue %(queue)s is closed: night service queue '
    '%(night_queue)s.',
    'night_ivr': 'Queue %(queue)s is closed: night service IVR %(ivr)s.',
    'night_voicemail': 'Queue %(queue)s is closed: night service voicemail.',
    'tier': 'Customer tier adds %(priority)s to the priority.',
    'red_list': 'Caller is on the red list: priority raised by '
    '%(priority)s.',
    'vip': 'VIP caller: priority raised by %(priority)s and sent straight '
    'to an agent.',
    'pbx_distribution': 'No member of %(queue)s is known here: the PBX '
    'distributes the call.',
    'last_agent_unqualified': 'Last agent %(agent)s cannot take %(queue)s '
    'calls: no affinity.',
    'last_agent_busy': 'Last agent %(agent)s is %(state)s: not waiting for '
    'them.',
    'affinity': '%(agent)s served this caller recently and is ready: '
    'preferred.',
    'skills': '%(agent)s is the best skilled ready agent (%(skills)s).',
    'longest_idle': '%(agent)s is the longest idle ready agent.',
    'overflow': 'No agent of %(queue)s is signed in: overflow to '
    '%(overflow)s.',
    'service_level_overflow': 'Service level of %(queue)s is %(level)s%% '
    '(under %(floor)s%%): overflow to %(overflow)s, where an agent is ready.',
    'nobody_signed_in': 'No agent of %(queue)s is signed in.',
    'all_busy': 'All %(count)s suitable agents of %(queue)s are busy.',
    'vip_waits': 'The VIP caller waits for an agent.',
    'callback': 'Callback offered.',
    'expected_wait': 'Expected wait %(wait)s s: %(waiting)s callers ahead, '
    '%(agents)s busy agents, %(handle)s s per call.',
    'wait_choice': 'Expected wait over %(limit)s s: the caller is told it '
    'and offered choices.',
    'voicemail': 'Sent to voicemail.',
    'waits': 'The caller waits in the queue.',
    'router_error': 'The router could not decide (%(error)s): default '
    'queue.',
    'announcement': 'Announcement "%(name)s" is in force: the caller hears '
    '%(prompt)s first.',
    'announcement_region': 'Announcement "%(name)s" is in force for callers '
    'from %(region)s: the caller hears %(prompt)s first.',
    'urgent_notice': 'Urgent notice "%(name)s" is in force: the caller hears '
    '%(prompt)s first.',
    'urgent_notice_region': 'Urgent notice "%(name)s" is in force for '
    'callers from %(region)s: the caller hears %(prompt)s first.',
    }
# The actions whose caller reaches a queue (with its wait limit), and hears
# an announcement first.
QUEUEING_ACTIONS = ('queue', 'callback', 'choice', 'night')
VARIABLES = ('CC_ACTION', 'CC_QUEUE', 'CC_PRIORITY', 'CC_AGENT',
    'CC_ANNOUNCE', 'CC_TARGET', 'CC_TIMEOUT', 'CC_OVERFLOW',
    'CC_WAIT_MINUTES', 'CC_CHOICE_EXTEN', 'CC_REASON')


@dataclass(frozen=True)
class Caller:
    "What ``cc.caller.identify`` says about the calling number."
    number: str | None = None
    region: str | None = None
    party_ids: tuple = ()
    list_status: str | None = None  # 'black', 'red' or None
    routing_priority: int = 0
    vip: bool = False

    @classmethod
    def from_identify(cls, info):
        return cls(
            number=info.get('number'),
            region=info.get('region'),
            party_ids=tuple(p['id'] for p in info.get('parties', [])),
            list_status=info.get('list_status'),
            routing_priority=info.get('routing_priority') or 0,
            vip=bool(info.get('vip')))


@dataclass(frozen=True)
class Service:
    "A dialled number (DNIS) and the service it stands for."
    number: str
    name: str
    queue: str
    priority: int = 0
    announcement: str | None = None


@dataclass(frozen=True)
class Queue:
    """A queue as routing sees it.

    ``skills`` maps a required skill code to (minimum proficiency, weight).
    ``calendar`` is anything with ``is_open(moment)`` (a BusinessCalendar);
    None means always open. ``max_wait`` is the seconds a caller may wait
    before leaving for ``overflow`` (None or 0: no limit). Below the
    service level ``overflow_service_level`` (%), callers who find every
    agent busy go to ``overflow`` if an agent is ready there. Callers who
    find every agent busy are told their expected wait when
    ``announce_wait``, and offered choices (``choice_extension`` among
    them) when it is over ``choice_above`` seconds.
    """
    code: str
    name: str = ''
    strategy: str = 'rrmemory'
    priority: int = 0
    skills: dict = field(default_factory=dict)
    overflow: str | None = None
    max_wait: int | None = None
    overflow_service_level: float | None = None
    night_kind: str = 'voicemail'  # 'voicemail', 'ivr' or 'queue'
    night_target: str | None = None
    night_queue: str | None = None
    busy_action: str = 'queue'  # 'queue', 'callback' or 'voicemail'
    voicemail_box: str | None = None
    announcement: str | None = None
    calendar: object = None
    announce_wait: bool = False
    choice_above: int | None = None
    choice_extension: str | None = None

    def is_open(self, moment):
        return self.calendar is None or bool(self.calendar.is_open(moment))


@dataclass(frozen=True)
class Announcement:
    """A recorded notice played before queueing while ``valid_from <= now <
    valid_to``, to callers of the dialled numbers ``services`` and of the
    queues ``queues`` (empty: all) from the ``regions`` (empty: everywhere;
    a region matches the caller regions it starts: 广东省 matches
    广东省深圳市)."""
    name: str
    prompt: str
    valid_from: dt.datetime
    valid_to: dt.datetime
    kind: str = 'message'
    sequence: int = 0
    services: frozenset = frozenset()
    queues: frozenset = frozenset()
    regions: tuple = ()

    @property
    def urgent(self):
        return self.kind == 'urgent'

    def region_of(self, caller):
        "The region of the announcement the caller is from, else None."
        return next((r for r in self.regions
                if (caller.region or '').startswith(r)), None)

    def applies(self, now, service, queue, caller):
        return (self.valid_from <= now < self.valid_to
            and (not self.services or service in self.services)
            and (not self.queues or queue in self.queues)
            and (not self.regions or self.region_of(caller) is not None))


@dataclass(frozen=True)
class Agent:
    """An agent's live state, skills ({code: proficiency 1-5}) and queue
    memberships ({queue code: penalty})."""
    interface: str
    state: str = 'logged_out'
    skills: dict = field(default_factory=dict)
    queues: dict = field(default_factory=dict)
    state_since: dt.datetime | None = None
    name: str = ''

    @property
    def label(self):
        return f'{self.name} ({self.interface})' if self.name else (
            self.interface)


@dataclass(frozen=True)
class QueueLoad:
    """A queue's recent figures the expected wait is estimated from: the
    callers waiting in it now and the mean seconds an answered call took
    (talk, hold and wrap-up; None: no call answered lately)."""
    waiting: int = 0
    handle_seconds: float | None = None


@dataclass(frozen=True)
class Policy:
    "Settings that are not per queue."
    default_queue: str | None = None
    blacklist_action: str = 'reject'  # 'reject' or 'ivr'
    blacklist_ivr: str | None = None
    red_list_boost: int = 5
    vip_boost: int = 10
    affinity_days: int = 30


@dataclass(frozen=True)
class Request:
    caller: Caller
    dnis: str
    now: dt.datetime
    queues: dict = field(default_factory=dict)      # {code: Queue}
    services: dict = field(default_factory=dict)  # {dnis: Service}
    agents: tuple = ()          # (Agent, …)
    last_agent: str | None = None       # interface of the caller's last agent
    last_agent_at: dt.datetime | None = None
    policy: Policy = field(default_factory=Policy)
    announcements: tuple = ()   # (Announcement, …), in force or not
    # {queue code: service level (%) of the recent past, or None}
    service_levels: dict = field(default_factory=dict)
    queue_loads: dict = field(default_factory=dict)  # {code: QueueLoad}


@dataclass
class Decision:
    action: str = 'queue'
    queue: str | None = None
    priority: int = 0
    agent: str | None = None
    announce: str | None = None
    target: str | None = None
    mailbox: str | None = None
    timeout: int | None = None      # seconds the caller may wait in queue
    overflow: str | None = None     # queue the caller goes to after them
    expected_wait: int | None = None  # seconds told to the caller
    choice_extension: str | None = None
    service: str | None = None
    reasons: list = field(default_factory=list)
    steps: list = field(default_factory=list)

    def because(self, code, key, **params):
        "A step of the explanation that is a reason (``code``) too."
        if code not in self.reasons:
            self.reasons.append(code)
        self.note(key, **params)

    def note(self, key, **params):
        "A step of the explanation: the sentence ``key`` of SENTENCES."
        self.steps.append((key, params))

    @property
    def explanation(self):
        "The steps as English sentences."
        return [SENTENCES[key] % params for key, params in self.steps]

    def variables(self):
        "Channel variables for the dialplan (all of them, '' when unset)."
        values = {
            'CC_ACTION': self.action,
            'CC_QUEUE': self.queue or '',
            'CC_PRIORITY': str(self.priority),
            'CC_AGENT': self.agent or '',
            'CC_ANNOUNCE': self.announce or '',
            'CC_TARGET': self.target or '',
            'CC_TIMEOUT': str(self.timeout) if self.timeout else '',
            'CC_OVERFLOW': self.overflow or '',
            'CC_WAIT_MINUTES': str(math.ceil(self.expected_wait / 60))
            if self.expected_wait else '',
            'CC_CHOICE_EXTEN': self.choice_extension or '',
            'CC_REASON': ','.join(self.reasons),
            }
        if self.mailbox:
            values['CC_MAILBOX'] = self.mailbox
        return values

    def as_dict(self):
        "What the call record keeps of the decision."
        return {
            'action': self.action,
            'queue': self.queue,
            'priority': self.priority,
            'agent': self.agent,
            'target': self.target,
            'reason': ','.join(self.reasons),
            'explanation': self.explanation,
            'steps': [[key, dict(params)] for key, params in self.steps],
            'service': self.service,
            }


def decide(request):
    "Return the Decision for ``request``; never raises on missing data."
    decision = Decision()
    queue = _select_queue(request, decision)
    if queue is None:
        return _unroutable(decision)
    if request.caller.list_status == 'black':
        return _blacklisted(request, decision)
    if not queue.is_open(request.now):
        queue = _night_service(request, queue, decision)
        if queue is None:
            return decision
    _set_priority(request, queue, decision)
    _choose_agent(request, queue, decision)
    set_wait_limit(request.queues, request.now, decision)
    _announce(request, decision)
    return decision


def _select_queue(request, decision):
    "The dialled number's service, else the default queue."
    service = request.services.get(request.dnis)
    if service is not None:
        decision.service = service.number
        decision.announce = service.announcement
        decision.because('service', 'service', number=service.number,
            service=service.name, queue=service.queue)
        code = service.queue
    else:
        code = request.policy.default_queue
        if code:
            decision.because('default_queue', 'default_queue',
                number=request.dnis or '-', queue=code)
    queue = request.queues.get(code) if code else None
    if queue is not None:
        decision.queue = queue.code
        decision.announce = decision.announce or queue.announcement
    return queue


def _announce(request, decision):
    """The announcement in force for a queued caller replaces the service's
    or queue's own: urgent notices first, then the lowest sequence."""
    if decision.action not in QUEUEING_ACTIONS:
        return
    caller = request.caller
    in_force = [a for a in request.announcements
        if a.applies(request.now, decision.service, decision.queue, caller)]
    if not in_force:
        return
    chosen = min(in_force, key=lambda a: (not a.urgent, a.sequence))
    region = chosen.region_of(caller)
    key = 'urgent_notice' if chosen.urgent else 'announcement'
    decision.announce = chosen.prompt
    decision.because('announcement', f'{key}_region' if region else key,
        name=chosen.name, prompt=chosen.prompt, region=region)


def _unroutable(decision):
    "Nowhere to queue: voicemail rather than a silent hang-up."
    decision.action = 'voicemail'
    decision.target = 'voicemail'
    decision.because('no_queue', 'no_queue')
    return decision


def _blacklisted(request, decision):
    policy = request.policy
    decision.queue, decision.announce, decision.priority = None, None, 0
    if policy.blacklist_action == 'ivr' and policy.blacklist_ivr:
        decision.action, decision.target = 'ivr', policy.blacklist_ivr
        decision.because('blacklist', 'blacklist_ivr',
            number=request.caller.number, ivr=policy.blacklist_ivr)
    else:
        decision.action, decision.target = 'reject', 'reject'
        decision.because('blacklist', 'blacklist_reject',
            number=request.caller.number)
    return decision


def _night_service(request, queue, decision):
    """The closed queue's night service; return the queue to continue
    routing in (a night queue that is open) or None when decided."""
    decision.action = 'night'
    decision.agent = None
    if queue.night_kind == 'queue' and queue.night_queue:
        night = request.queues.get(queue.night_queue)
        if night is not None and night.is_open(request.now):
            decision.queue = night.code
            decision.announce = night.announcement or decision.announce
            decision.because('closed', 'night_queue', queue=queue.code,
                night_queue=night.code)
            return night
    decision.queue = None
    if queue.night_kind == 'ivr' and queue.night_target:
        decision.target = queue.night_target
        decision.because('closed', 'night_ivr', queue=queue.code,
            ivr=queue.night_target)
    else:
        decision.target = 'voicemail'
        decision.mailbox = (queue.night_target if queue.night_kind ==
            'voicemail' else None) or queue.voicemail_box
        decision.because('closed', 'night_voicemail', queue=queue.code)
    return None


def _set_priority(request, queue, decision):
    caller, policy = request.caller, request.policy
    service = request.services.get(decision.service or '')
    priority = queue.priority + (service.priority if service else 0)
    if caller.routing_priority:
        priority += caller.routing_priority
        decision.because('tier', 'tier', priority=caller.routing_priority)
    if caller.list_status == 'red':
        priority += policy.red_list_boost
        decision.because('red_list', 'red_list',
            priority=policy.red_list_boost)
    if caller.vip:
        priority += policy.vip_boost
        decision.because('vip', 'vip', priority=policy.vip_boost)
    decision.priority = priority


def _members(request, queue):
    return [a for a in request.agents if queue.code in a.queues]


def _qualified(agent, queue):
    return all(agent.skills.get(skill, 0) >= minimum
        for skill, (minimum, _) in queue.skills.items())


def _skill_score(agent, queue):
    return sum(weight * agent.skills.get(skill, 0)
        for skill, (_, weight) in queue.skills.items())


def _choose_agent(request, queue, decision):
    """Prefer an agent, or divert when nobody suitable is ready."""
    if decision.action != 'night':
        decision.action = 'queue'
    members = _members(request, queue)
    if not members:
        decision.because('pbx_distribution', 'pbx_distribution',
            queue=queue.code)
        return
    qualified = [a for a in members if _qualified(a, queue)]
    ready = [a for a in qualified if a.state == 'ready']
    if _prefer_last_agent(request, queue, decision, qualified):
        return
    if ready:
        _prefer_best(request, queue, decision, ready)
        return
    signed_in = [a for a in qualified if a.state not in IDLE_STATES]
    if not signed_in and _overflow(request, queue, decision):
        return
    if signed_in and _overflow_behind(request, queue, decision):
        return
    _all_busy(request, queue, decision, signed_in)


def _prefer_last_agent(request, queue, decision, qualified):
    last, when = request.last_agent, request.last_agent_at
    if not last:
        return False
    limit = dt.timedelta(days=request.policy.affinity_days)
    if when is not None and request.now - when > limit:
        return False
    agent = next((a for a in qualified if a.interface == last), None)
    if agent is None:
        decision.note('last_agent_unqualified', agent=last,
            queue=queue.code)
        return False
    if agent.state != 'ready':
        decision.note('last_agent_busy', agent=agent.label,
            state=agent.state)
        return False
    decision.agent = agent.interface
    decision.because('affinity', 'affinity', agent=agent.label)
    return True


def _prefer_best(request, queue, decision, ready):
    """Pick an agent when the PBX cannot: for skills (app_queue has no
    skills routing) and for VIP callers (a human at once)."""
    if not (queue.skills or queue.strategy == 'skills_weighted'
            or request.caller.vip):
        return
    # Best skills first, then lowest penalty, then longest idle.
    far_past = dt.datetime.min
    best = min(ready, key=lambda a: (
            -_skill_score(a, queue), a.queues.get(queue.code, 0),
            a.state_since or far_past, a.interface))
    decision.agent = best.interface
    if queue.skills:
        skills = ', '.join(f'{s} {best.skills.get(s, 0)}'
            for s in sorted(queue.skills))
        decision.because('skills', 'skills', agent=best.label,
            skills=skills)
    else:
        decision.because('longest_idle', 'longest_idle', agent=best.label)


def _overflow_target(request, queue):
    "The queue's overflow queue if it is open, else None."
    target = request.queues.get(queue.overflow) if queue.overflow else None
    if target is None or not target.is_open(request.now):
        return None
    return target


def _ready(request, queue):
    return [a for a in _members(request, queue)
        if _qualified(a, queue) and a.state == 'ready']


def _overflow(request, queue, decision):
    "Nobody signed in: send to the overflow queue if it can take calls."
    target = _overflow_target(request, queue)
    if target is None:
        return False
    decision.queue = target.code
    decision.because('overflow', 'overflow', queue=queue.code,
        overflow=target.code)
    ready = _ready(request, target)
    if ready:
        _prefer_best(request, target, decision, ready)
    return True


def _overflow_behind(request, queue, decision):
    """TEL-54: every agent of the queue is busy and its recent service
    level is under its floor: the caller goes to the overflow queue when an
    agent is ready there (other sites help; nobody is sent to wait
    elsewhere)."""
    floor = queue.overflow_service_level
    level = request.service_levels.get(queue.code)
    if not floor or level is None or level >= floor:
        return False
    target = _overflow_target(request, queue)
    ready = _ready(request, target) if target is not None else []
    if not ready:
        return False
    decision.queue = target.code
    decision.because('overflow', 'service_level_overflow', queue=queue.code,
        level=level, floor=floor, overflow=target.code)
    _prefer_best(request, target, decision, ready)
    return True


def set_wait_limit(queues, now, decision):
    """How long the caller may wait in the queue the decision joins, and
    where to then: that queue's own settings (an overflow or night queue
    has its own). The overflow queue is given only when it could take the
    call now; the wait in it has no limit (no ping-pong between queues)."""
    if decision.action not in QUEUEING_ACTIONS:
        return
    queue = queues.get(decision.queue or '')
    if queue is None or not queue.max_wait or queue.max_wait <= 0:
        return
    decision.timeout = queue.max_wait
    target = queues.get(queue.overflow) if queue.overflow else None
    if target is not None and target.is_open(now):
        decision.overflow = target.code


def _all_busy(request, queue, decision, signed_in):
    if not signed_in:
        decision.note('nobody_signed_in', queue=queue.code)
    else:
        decision.note('all_busy', count=len(signed_in), queue=queue.code)
    wait = _expect_wait(request, queue, decision, signed_in)
    if request.caller.vip:
        decision.note('vip_waits')
        return
    if queue.choice_above and wait is not None and wait > queue.choice_above:
        decision.action = 'choice'
        decision.expected_wait = wait
        decision.choice_extension = queue.choice_extension
        decision.mailbox = queue.voicemail_box
        decision.because('busy', 'wait_choice', limit=queue.choice_above)
    elif queue.busy_action == 'callback':
        decision.action = 'callback'
        decision.because('busy', 'callback')
    elif queue.busy_action == 'voicemail':
        decision.action, decision.target = 'voicemail', 'voicemail'
        decision.mailbox = queue.voicemail_box
        decision.because('busy', 'voicemail')
    else:
        decision.because('busy', 'waits')


def _expect_wait(request, queue, decision, signed_in):
    """TEL-50: the expected wait of a caller who finds every suitable agent
    busy, when the queue tells it or offers choices on it: the callers
    waiting and this one, served by the queue's busy qualified agents at
    its recent handle time (position × handle time / agents). None when
    unknown: no busy agent or no call answered lately."""
    if not (queue.announce_wait or queue.choice_above):
        return None
    load = request.queue_loads.get(queue.code)
    busy = [a for a in signed_in if a.state in BUSY_STATES]
    if load is None:
        return None
    wait = expected_wait(load.waiting, load.handle_seconds, len(busy))
    if wait is None:
        return None
    if queue.announce_wait:
        decision.expected_wait = wait
    decision.note('expected_wait', wait=wait, waiting=load.waiting,
        agents=len(busy), handle=round(load.handle_seconds))
    return wait


def expected_wait(waiting, handle_seconds, busy):
    """Seconds a caller who finds every agent busy is expected to wait
    (rounded up): the ``waiting`` callers and this one, served by ``busy``
    agents at ``handle_seconds`` a call. None when unknown (no busy agent,
    no handle time)."""
    if not handle_seconds or not busy:
        return None
    return math.ceil((waiting + 1) * handle_seconds / busy)
