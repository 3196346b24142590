"""Discrete-event model of Asterisk channels, bridges and app_queue.

Everything happens at simulated time ``Simulator.now``; ``advance`` runs the
model up to a given time (tests drive it step by step) and ``run`` follows a
wall clock sped up by a factor (1.0 is real time).  Every event carries the
headers the Asterisk 18 AMI documentation lists for it, in Asterisk's order
of emission (QueueCallerLeave before AgentConnect, QueueCallerAbandon before
QueueCallerLeave, AgentComplete after the bridge ends, Cdr last).
"""
import asyncio
import datetime as dt
import heapq
import itertools
import logging
import random
from dataclasses import dataclass, field

from . import agi

logger = logging.getLogger(__name__)

STATE_DESC = {0: 'Down', 4: 'Ring', 5: 'Ringing', 6: 'Up'}
PRIVILEGE = {
    'Queue': 'agent,all', 'Agent': 'agent,all', 'Cdr': 'cdr,all',
    'VarSet': 'dialplan,all', 'FullyBooted': 'system,all'}
STRATEGIES = ('ringall', 'leastrecent', 'fewestcalls', 'rrmemory', 'linear')
CAUSE_NORMAL, CAUSE_ELSEWHERE, CAUSE_REJECTED = '16', '26', '21'
CAUSE_NO_ANSWER = '19'
# Dial(PJSIP/trunk/<number>,30) of the dialplan's outbound dialling.
DIAL_TIMEOUT = 30.0
# OriginateResponse Reason: the originated channel's last state (4 Up,
# 3 Ringing when it was not answered) or 0 when it could not be created.
ORIGINATE_ANSWERED, ORIGINATE_NO_ANSWER, ORIGINATE_FAILED = '4', '3', '0'
# The PBX's local time, in which CoreStatus reports (China Standard Time).
LOCAL_ZONE = dt.timezone(dt.timedelta(hours=8))
# [cc-route] callback and choice of extensions.conf: the seconds from the
# answer to the key's effect (the prompts, the expected wait said, the
# Read's timeout), the thank-you before the hangup of a caller who asked
# for a callback, and the information played on key 4 of the choices.
OFFER_SECONDS = {'callback': 6.0, 'choice': 12.0}
THANKS_SECONDS = 3.0
INFORMATION_SECONDS = 20.0


@dataclass
class Channel:
    uniqueid: str
    linkedid: str
    name: str
    caller_num: str = ''
    caller_name: str = ''
    context: str = 'from-internal'
    exten: str = 's'
    state: int = 4
    connected_num: str = '<unknown>'
    connected_name: str = '<unknown>'
    variables: dict = field(default_factory=dict)
    born: dt.datetime | None = None
    answered: dt.datetime | None = None
    bridge: str | None = None
    language: str = 'zh'          # CHANNEL(language)

    def headers(self, prefix=''):
        "The channel block of an AMI event, ``prefix`` as in DestChannel."
        values = [
            ('Channel', self.name), ('ChannelState', str(self.state)),
            ('ChannelStateDesc', STATE_DESC[self.state]),
            ('CallerIDNum', self.caller_num or '<unknown>'),
            ('CallerIDName', self.caller_name or '<unknown>'),
            ('ConnectedLineNum', self.connected_num),
            ('ConnectedLineName', self.connected_name),
            ('Language', self.language), ('AccountCode', ''),
            ('Context', self.context), ('Exten', self.exten),
            ('Priority', '1'), ('Uniqueid', self.uniqueid),
            ('Linkedid', self.linkedid)]
        return {prefix + key: value for key, value in values}


@dataclass
class Membership:
    queue: str
    penalty: int = 0
    paused: bool = False
    reason: str = ''
    added: int = 0
    calls: int = 0


@dataclass
class Member:
    interface: str
    name: str
    state_interface: str
    memberships: dict = field(default_factory=dict)
    answer_delay: float = 3.0
    no_answer_probability: float = 0.0
    in_call: bool = False
    ringing: bool = False
    last_call: dt.datetime | None = None
    wrap_until: dt.datetime | None = None


@dataclass
class Queue:
    name: str
    strategy: str = 'rrmemory'
    timeout: float = 15.0
    retry: float = 2.0
    wrapuptime: int = 0
    max_wait: float | None = None
    overflow: str | None = None
    rr_next: int = 0
    waiting: list = field(default_factory=list)


@dataclass
class CallPlan:
    """How one caller and the agents who take the call behave.

    Times are seconds: ``patience`` from queue entry, ``talk`` from answer
    to the caller's hangup; ``holds`` and ``transfer['at']`` from answer.
    ``no_answer`` lists members who let this call ring out.
    """
    caller: str = '13800138000'
    dnis: str = '95588'
    queue: str | None = None
    patience: float = 600.0
    talk: float = 60.0
    holds: list = field(default_factory=list)
    transfer: dict | None = None
    no_answer: list = field(default_factory=list)
    answer_delay: dict = field(default_factory=dict)
    name: str = ''
    # A caller of the IVR: the dialplan runs AGI(…/``ivr``) (a script
    # name: 'ivr' or 'ivr/<menu>') instead of …/route, and the caller
    # presses ``digits`` (agi.Keypad.parse: '2,1'; '' for no key, 'h' to
    # hang up). Either one makes the call an IVR call.
    ivr: str | None = None
    digits: object = None
    # The key pressed when the router offers a callback (CC_ACTION
    # callback: '1' accepts) or choices on a long wait (choice: '1' a
    # callback, '2' a message, '3' the choice extension, '4' information
    # then the queue); None or '' presses nothing: the caller is queued.
    offer_key: str | None = None


@dataclass
class Caller:
    channel: Channel
    plan: CallPlan
    queue: str | None = None
    priority: int = 0
    preferred: str | None = None
    joined: dt.datetime | None = None
    original_position: int = 0
    linear_position: int = 0
    ringing: dict = field(default_factory=dict)  # interface -> AgentLeg
    leg: 'AgentLeg | None' = None
    timers: list = field(default_factory=list)
    done: bool = False
    transferred: bool = False     # the plan's transfer has been made
    # (seconds, overflow) the router answered (CC_TIMEOUT, CC_OVERFLOW) for
    # the next Queue(); None: the scenario's queue settings apply.
    wait_limit: tuple | None = None
    overflow: str | None = None   # where the current queue's wait ends
    offered: bool = False  # the callback offer or choices have been made


@dataclass
class ConsultEntry(Caller):
    """The ;2 half of an Atxfer's Local channel to a queue's extension: it
    runs Queue() as a caller of its own, and the member who answers is
    consulted. ``consult``: (transferring caller, its leg, the ;1 half,
    the caller's bridge, the transfer)."""
    consult: tuple = ()


@dataclass
class Callee:
    """How a number dialled out from a phone (click-to-dial, callbacks)
    behaves: it answers after ``answer`` seconds (None: never, the Dial
    gives up after DIAL_TIMEOUT) and hangs up ``talk`` seconds later."""
    answer: float | None = 5.0
    talk: float = 60.0


@dataclass
class Origination:
    "What an AMI Originate asked for, as its OriginateResponse reports it."
    context: str = ''
    exten: str = ''
    application: str = ''
    data: str = ''
    action_id: str = ''


@dataclass
class AgentLeg:
    member: Member | None
    queue: str | None
    dest: Channel                 # what app_queue dialled (Local ;1 or phone)
    phone: Channel                # the agent's device channel
    local_two: Channel | None = None
    called: dt.datetime | None = None
    gone: bool = False            # transferred away: app_queue may not know


class Simulator:
    """The PBX model.  ``listeners`` receive every AMI event as a dict."""

    def __init__(self, start=dt.datetime(2026, 1, 5, 1, 0), seed=0,
            agi_url=None, zone=LOCAL_ZONE):
        self.now = start
        self.zone = zone
        self.started = self.reloaded = start
        self.random = random.Random(seed)
        self.agi_url = agi_url
        self.listeners = []
        self.restart_listeners = []
        self.queues = {}
        self.members = {}
        self.callers = {}
        # Numbers dialled out: {number: Callee}; others answer as Callee().
        self.callees = {}
        self.channels = {}
        self.bridges = {}
        self._schedule = []
        self._order = itertools.count()
        self._ids = itertools.count(1)
        self._wakeup = asyncio.Event()

    # -- clock --------------------------------------------------------------

    def at(self, delay, callback, *args):
        "Run ``callback(*args)`` (maybe a coroutine) ``delay`` s from now."
        when = self.now + dt.timedelta(seconds=delay)
        entry = [when, next(self._order), callback, args, True]
        heapq.heappush(self._schedule, entry)
        self._wakeup.set()
        return entry

    @staticmethod
    def cancel(entry):
        entry[4] = False

    async def advance(self, seconds):
        "Run everything due in the next ``seconds`` of simulated time."
        await self.advance_to(self.now + dt.timedelta(seconds=seconds))

    async def advance_to(self, until):
        while self._schedule and self._schedule[0][0] <= until:
            when, _, callback, args, live = heapq.heappop(self._schedule)
            self.now = max(self.now, when)
            if live:
                result = callback(*args)
                if asyncio.iscoroutine(result):
                    await result
            # Let the AMI server write what was emitted.
            await asyncio.sleep(0)
        self.now = max(self.now, until)

    async def run(self, speed=1.0, until=None):
        """Follow the wall clock times ``speed`` until ``until`` (or ever).

        Actions from AMI clients wake the loop up, so they take effect at
        once even when nothing else is scheduled.
        """
        loop = asyncio.get_running_loop()
        origin_real, origin_sim = loop.time(), self.now
        while until is None or self.now < until:
            self._wakeup.clear()
            target = origin_sim + dt.timedelta(
                seconds=(loop.time() - origin_real) * speed)
            await self.advance_to(min(target, until) if until else target)
            delay = 1.0
            if self._schedule:
                ahead = (self._schedule[0][0] - self.now).total_seconds()
                delay = max(0.0, ahead / speed)
            try:
                await asyncio.wait_for(self._wakeup.wait(), min(delay, 1.0))
            except asyncio.TimeoutError:
                pass

    def timestamp(self):
        return self.now.replace(tzinfo=dt.timezone.utc).timestamp()

    def local(self, when):
        "A simulated (naive UTC) time in the PBX's local time, as Asterisk."
        return when.replace(tzinfo=dt.timezone.utc).astimezone(self.zone)

    def restart(self):
        """The PBX process restarts (a crash, an upgrade) at ``now``: every
        call dies with it, silently (a process that is gone sends no
        Hangup); queue members stay, free (app_queue's persistentmembers);
        channels are numbered afresh. The AMI server cuts its clients."""
        for entry in self._schedule:
            if any(isinstance(arg, Caller) for arg in entry[3]):
                self.cancel(entry)
        for caller in self.callers.values():
            caller.done = True
        for queue in self.queues.values():
            queue.waiting.clear()
        for member in self.members.values():
            member.in_call = member.ringing = False
            member.wrap_until = None
        self.callers.clear()
        self.channels.clear()
        self.bridges.clear()
        self._ids = itertools.count(1)
        self.started = self.reloaded = self.now
        for listener in list(self.restart_listeners):
            listener()

    # -- events -------------------------------------------------------------

    def emit(self, name, *blocks, **headers):
        kind = next((prefix for prefix in PRIVILEGE if name.startswith(
            prefix)), None)
        event = {'Event': name,
            'Privilege': PRIVILEGE.get(kind, 'call,all'),
            'Timestamp': f'{self.timestamp():.6f}'}
        for block in blocks:
            event.update(block)
        event.update({key: str(value) for key, value in headers.items()})
        for listener in list(self.listeners):
            listener(event)

    def new_uniqueid(self):
        return f'{int(self.timestamp())}.{next(self._ids)}'

    def new_channel(self, device, linkedid=None, uniqueid=None, **values):
        """A channel on ``device`` (``PJSIP/1001``) with Asterisk's name
        suffix; ``uniqueid`` as an Originate's ChannelId assigns it."""
        uniqueid = uniqueid or self.new_uniqueid()
        name = f'{device}-{next(self._ids):08x}'
        channel = Channel(uniqueid, linkedid or uniqueid, name,
            born=self.now, **values)
        self.channels[uniqueid] = channel
        self.emit('Newchannel', channel.headers())
        return channel

    def new_local(self, target, linkedid, caller):
        "Both halves of ``Local/target``, as app_queue or a transfer makes."
        base = f'Local/{target}-{next(self._ids):08x}'
        context = target.split('@')[1].split('/')[0] if '@' in target else (
            'from-internal')
        exten = target.split('@')[0]
        halves = []
        for half in ('1', '2'):
            channel = Channel(self.new_uniqueid(), linkedid, f'{base};{half}',
                caller_num=caller.caller_num, caller_name=caller.caller_name,
                context=context, exten=exten, born=self.now)
            self.channels[channel.uniqueid] = channel
            self.emit('Newchannel', channel.headers())
            halves.append(channel)
        return halves

    def set_up(self, channel):
        if channel.state != 6:
            channel.state = 6
            channel.answered = channel.answered or self.now
            self.emit('Newstate', channel.headers())

    def bridge(self, *channels):
        bridge_id = f'bridge-{next(self._ids):06d}'
        self.bridges[bridge_id] = []
        self.emit('BridgeCreate', self.bridge_headers(bridge_id))
        for channel in channels:
            self.enter(bridge_id, channel)
        return bridge_id

    def bridge_headers(self, bridge_id):
        return {'BridgeUniqueid': bridge_id, 'BridgeType': 'basic',
            'BridgeTechnology': 'simple_bridge', 'BridgeCreator': '<unknown>',
            'BridgeName': '<unknown>',
            'BridgeNumChannels': str(len(self.bridges.get(bridge_id, []))),
            'BridgeVideoSourceMode': 'none'}

    def enter(self, bridge_id, channel):
        self.set_up(channel)
        self.bridges[bridge_id].append(channel)
        channel.bridge = bridge_id
        self.emit('BridgeEnter', self.bridge_headers(bridge_id),
            channel.headers())

    def leave(self, channel):
        bridge_id = channel.bridge
        if bridge_id is None:
            return
        self.bridges[bridge_id].remove(channel)
        channel.bridge = None
        self.emit('BridgeLeave', self.bridge_headers(bridge_id),
            channel.headers())
        if not self.bridges[bridge_id]:
            self.emit('BridgeDestroy', self.bridge_headers(bridge_id))
            del self.bridges[bridge_id]

    def hangup(self, channel, cause=CAUSE_NORMAL):
        if channel.uniqueid not in self.channels:
            return
        self.leave(channel)
        del self.channels[channel.uniqueid]
        self.emit('Hangup', channel.headers(), Cause=cause,
            **{'Cause-txt': {'16': 'Normal Clearing',
                '26': 'Answered elsewhere',
                '21': 'Call Rejected'}.get(cause, 'Unknown')})

    def cdr(self, channel, last_app, destination='', answered=None):
        start, end = channel.born, self.now
        fmt = '%Y-%m-%d %H:%M:%S'
        self.emit('Cdr', AccountCode='', Source=channel.caller_num,
            Destination=channel.exten, DestinationContext=channel.context,
            CallerID=f'"{channel.caller_name}" <{channel.caller_num}>',
            Channel=channel.name, DestinationChannel=destination,
            LastApplication=last_app, LastData='',
            StartTime=start.strftime(fmt),
            AnswerTime=answered.strftime(fmt) if answered else '',
            EndTime=end.strftime(fmt),
            Duration=int((end - start).total_seconds()),
            BillableSeconds=int((end - answered).total_seconds())
            if answered else 0,
            Disposition='ANSWERED' if answered else 'NO ANSWER',
            AMAFlags='DOCUMENTATION', UniqueID=channel.uniqueid,
            UserField=channel.variables.get('CC_RECORDING', ''))

    # -- configuration and members -------------------------------------------

    def add_queue(self, name, **settings):
        if settings.get('strategy', 'rrmemory') not in STRATEGIES:
            raise ValueError(f'unknown strategy {settings["strategy"]}')
        self.queues[name] = Queue(name, **settings)

    def member_headers(self, member, membership):
        status = '6' if member.ringing else '2' if member.in_call else '1'
        return {'Queue': membership.queue, 'MemberName': member.name,
            'Interface': member.interface,
            'StateInterface': member.state_interface,
            'Membership': 'dynamic', 'Penalty': str(membership.penalty),
            'CallsTaken': str(membership.calls),
            'LastCall': str(int(member.last_call.replace(
                tzinfo=dt.timezone.utc).timestamp())
                if member.last_call else 0),
            'LastPause': '0', 'LoginTime': '0',
            'InCall': '1' if member.in_call else '0', 'Status': status,
            'Paused': '1' if membership.paused else '0',
            'PausedReason': membership.reason, 'Ringinuse': '0',
            'Wrapuptime': str(self.queues[membership.queue].wrapuptime)}

    def queue_add(self, queue, interface, penalty=0, paused=False, reason='',
            name=None, state_interface=None):
        "QueueAdd; return False if the member is already in the queue."
        if queue not in self.queues:
            raise KeyError(queue)
        member = self.members.get(interface)
        if member is None:
            member = self.members[interface] = Member(interface,
                name or interface, state_interface or interface)
        if queue in member.memberships:
            return False
        membership = Membership(queue, int(penalty), bool(paused), reason,
            next(self._ids))
        member.memberships[queue] = membership
        self.emit('QueueMemberAdded', self.member_headers(member, membership))
        self.dispatch_all()
        return True

    def member_status(self, member, **changes):
        "Apply a device state change; Asterisk reports it per membership."
        for name, value in changes.items():
            setattr(member, name, value)
        for membership in member.memberships.values():
            self.emit('QueueMemberStatus',
                self.member_headers(member, membership))

    def queue_remove(self, queue, interface):
        member = self.members.get(interface)
        if member is None or queue not in member.memberships:
            return False
        membership = member.memberships.pop(queue)
        self.emit('QueueMemberRemoved',
            self.member_headers(member, membership))
        return True

    def queue_pause(self, interface, paused, queue=None, reason=''):
        "QueuePause; without ``queue`` the member is paused everywhere."
        member = self.members.get(interface)
        if member is None or (queue and queue not in member.memberships):
            return False
        for membership in member.memberships.values():
            if queue and membership.queue != queue:
                continue
            membership.paused, membership.reason = paused, reason
            self.emit('QueueMemberPause',
                self.member_headers(member, membership))
        if not paused:
            self.dispatch_all()
        return True

    # -- arrivals and routing ----------------------------------------------

    async def arrive(self, plan):
        "An inbound call from the trunk: route it by AGI, then queue it."
        channel = self.new_channel('PJSIP/trunk', caller_num=plan.caller,
            caller_name=plan.name, context='from-pstn', exten=plan.dnis)
        caller = Caller(channel, plan)
        self.callers[channel.uniqueid] = caller
        if self.agi_url:
            if plan.ivr or plan.digits is not None:
                keypad = agi.Keypad.parse(plan.digits or [])
                await self.route(caller, plan.ivr or 'ivr', keypad)
                variables = channel.variables
                target = variables.get('CC_TARGET', '')
                if not keypad.hung_up and variables.get('CC_ACTION') in (
                        'ivr', 'night') and target not in (
                        '', 'voicemail', 'reject'):
                    # Night service or blacklist IVR: the dialplan runs
                    # that menu.
                    await self.route(caller, f'ivr/{target}', keypad)
                if keypad.hung_up:
                    self.end_caller(caller, 'AGI')
                    return caller
            else:
                await self.route(caller)
        self.follow_route(caller)
        return caller

    async def route(self, caller, script=None, keypad=None):
        """AGI(agi_url), or AGI(agi://host:port/``script``) with the
        caller's ``keypad`` answering the prompts."""
        channel = caller.channel
        url = self.agi_url
        if script:
            url = url[:url.index('/', len('agi://'))] + '/' + script if (
                '/' in url[len('agi://'):]) else f'{url}/{script}'

        def on_set(name, value):
            self.set_variable(channel, name, value)
        try:
            await agi.route(url, channel, on_set, keypad=keypad,
                on_answer=lambda: self.set_up(channel))
        except (OSError, asyncio.TimeoutError, ValueError) as error:
            # Asterisk sets AGISTATUS=FAILURE and the dialplan goes on.
            logger.warning('AGI %s failed: %r', url, error)

    def set_variable(self, channel, name, value):
        channel.variables[name] = value
        self.emit('VarSet', channel.headers(), Variable=name, Value=value)

    def follow_route(self, caller):
        variables = caller.channel.variables
        action = variables.get('CC_ACTION')
        if action in OFFER_SECONDS and not caller.offered:
            # Answer(), the prompts and Read(); the key acts after them.
            caller.offered = True
            self.set_up(caller.channel)
            caller.timers = [self.at(
                    OFFER_SECONDS[action], self.take_offer, caller, action)]
            return
        target = variables.get('CC_TARGET', '')
        caller.priority = int(variables.get('CC_PRIORITY') or 0)
        caller.preferred = variables.get('CC_AGENT') or None
        if 'CC_TIMEOUT' in variables:
            # As Queue(${CC_QUEUE},,,,${CC_TIMEOUT}): empty is no limit.
            timeout = variables['CC_TIMEOUT']
            caller.wait_limit = (float(timeout) if timeout else None,
                variables.get('CC_OVERFLOW') or None)
        queue = variables.get('CC_QUEUE') or caller.plan.queue
        if target == 'reject':
            self.end_caller(caller, 'Hangup', CAUSE_REJECTED)
        elif target == 'voicemail':
            self.voicemail(caller)
        elif target:
            self.dial_out(caller, target)
        elif queue in self.queues:
            self.join(caller, queue)
        else:
            self.end_caller(caller, 'Hangup', CAUSE_NORMAL)

    def take_offer(self, caller, action):
        """The caller's key in [cc-route] callback or choice: appended to
        CC_IVR_PATH (cc-ivr-step), then what the dialplan does with it."""
        if caller.done:
            return
        variables = caller.channel.variables
        key = caller.plan.offer_key or ''
        path = variables.get('CC_IVR_PATH')
        step = f'{action}/{key or "t"}'
        self.set_variable(caller.channel, 'CC_IVR_PATH',
            f'{path}/{step}' if path else step)
        extension = variables.get('CC_CHOICE_EXTEN', '')
        if key == '1':
            self.at(THANKS_SECONDS, self.end_caller, caller, 'Hangup')
        elif action == 'choice' and key == '2':
            self.voicemail(caller)
        elif action == 'choice' and key == '3' and extension:
            self.dial_out(caller, extension)
        elif action == 'choice' and key == '4':
            self.at(INFORMATION_SECONDS, self.follow_route, caller)
        else:
            self.follow_route(caller)

    def voicemail(self, caller):
        self.set_up(caller.channel)
        self.at(min(caller.plan.talk, 30), self.end_caller, caller,
            'VoiceMail')

    def dial_out(self, caller, number):
        "Night service or overflow to a number outside the queues."
        target = self.new_channel('PJSIP/trunk', caller.channel.linkedid,
            caller_num=caller.plan.caller, context='from-internal',
            exten=number)
        self.at(3, self._connect_out, caller, target)

    def _connect_out(self, caller, target):
        if caller.done:
            return
        self.bridge(caller.channel, target)
        caller.leg = AgentLeg(None, None, target, target)
        self.at(caller.plan.talk, self.caller_hangs_up, caller)

    def end_caller(self, caller, last_app, cause=CAUSE_NORMAL, linked=()):
        """The caller's channel is gone and with it the whole call; the Cdr
        comes once every channel of the call is, as in Asterisk."""
        if caller.done:
            return
        caller.done = True
        for timer in caller.timers:
            self.cancel(timer)
        self.hangup(caller.channel, cause)
        for channel in linked:
            self.hangup(channel)
        self.cdr(caller.channel, last_app, answered=caller.channel.answered)
        self.callers.pop(caller.channel.uniqueid, None)
        self.free_device(caller.channel)

    def free_device(self, channel):
        """A phone that placed a call (an Originate from it) hung up: its
        member is free again; app_queue's wrap-up is for queue calls only."""
        member = self.member_on_device(channel.name.rsplit('-', 1)[0])
        if member is not None and (member.in_call or member.ringing):
            self.member_status(member, in_call=False, ringing=False)
            self.dispatch_all()

    # -- app_queue ----------------------------------------------------------

    def join(self, caller, queue_name):
        queue = self.queues[queue_name]
        caller.queue, caller.joined = queue_name, self.now
        ahead = [other for other in queue.waiting
            if other.priority >= caller.priority]
        queue.waiting.insert(len(ahead), caller)
        # The dialplan answers before Queue() so that the caller hears music.
        self.set_up(caller.channel)
        caller.original_position = len(ahead) + 1
        self.emit('QueueCallerJoin', caller.channel.headers(),
            Queue=queue_name, Position=caller.original_position,
            Count=len(queue.waiting))
        caller.timers = [self.at(caller.plan.patience, self.abandon, caller)]
        max_wait, caller.overflow = queue.max_wait, queue.overflow
        if caller.wait_limit is not None:
            # The router's limit; the dialplan queues the overflow without
            # one (CC_TIMEOUT and CC_OVERFLOW cleared).
            (max_wait, caller.overflow), caller.wait_limit = (
                caller.wait_limit, (None, None))
        if max_wait:
            caller.timers.append(
                self.at(max_wait, self.queue_timeout, caller))
        self.dispatch(queue)

    def position(self, caller):
        return self.queues[caller.queue].waiting.index(caller) + 1

    def leave_queue(self, caller):
        queue = self.queues[caller.queue]
        position = self.position(caller)
        queue.waiting.remove(caller)
        self.emit('QueueCallerLeave', caller.channel.headers(),
            Queue=queue.name, Count=len(queue.waiting), Position=position)

    def record_abandoned(self, caller):
        "app_queue's record_abandoned: the caller leaves unanswered."
        self.emit('QueueCallerAbandon', caller.channel.headers(),
            Queue=caller.queue, Position=self.position(caller),
            OriginalPosition=caller.original_position,
            HoldTime=int((self.now - caller.joined).total_seconds()))

    def abandon(self, caller):
        if caller.done or caller.leg is not None:
            return
        self.cancel_ringing(caller)
        self.record_abandoned(caller)
        self.leave_queue(caller)
        self.end_caller(caller, 'Queue')
        self.dispatch_all()

    def queue_timeout(self, caller):
        if caller.done or caller.leg is not None:
            return
        overflow = caller.overflow
        self.cancel_ringing(caller)
        # As queue_exec does when the wait is over: record_abandoned, then
        # the caller leaves, then Queue() returns with QUEUESTATUS TIMEOUT
        # (which tells the tracker that the caller did not hang up).
        self.record_abandoned(caller)
        self.leave_queue(caller)
        for timer in caller.timers:
            self.cancel(timer)
        caller.channel.variables['QUEUESTATUS'] = 'TIMEOUT'
        self.emit('VarSet', caller.channel.headers(), Variable='QUEUESTATUS',
            Value='TIMEOUT')
        if overflow in self.queues:
            self.join(caller, overflow)
        elif overflow == 'voicemail':
            self.voicemail(caller)
        elif overflow:
            self.dial_out(caller, overflow)
        else:
            self.end_caller(caller, 'Queue')

    def available(self, queue):
        "Members who may ring now, lowest penalty first, in queue order."
        members = []
        for member in self.members.values():
            membership = member.memberships.get(queue.name)
            if (membership and not membership.paused and not member.in_call
                    and not member.ringing and (member.wrap_until is None
                        or member.wrap_until <= self.now)):
                members.append((membership.penalty, membership.added, member))
        if not members:
            return []
        best = min(penalty for penalty, _, _ in members)
        return [member for penalty, _, member in sorted(
            members, key=lambda item: item[:2]) if penalty == best]

    def choose(self, queue, candidates, caller):
        "Apply the queue strategy to the members of the best penalty."
        preferred = [m for m in candidates if m.interface == caller.preferred]
        if preferred:
            return preferred
        if queue.strategy == 'ringall':
            return candidates
        if queue.strategy == 'leastrecent':
            return [min(candidates,
                key=lambda m: m.last_call or dt.datetime.min)]
        if queue.strategy == 'fewestcalls':
            return [min(candidates,
                key=lambda m: m.memberships[queue.name].calls)]
        if queue.strategy == 'rrmemory':
            ordered = sorted(candidates,
                key=lambda m: m.memberships[queue.name].added)
            after = [m for m in ordered
                if m.memberships[queue.name].added >= queue.rr_next]
            chosen = (after or ordered)[0]
            queue.rr_next = chosen.memberships[queue.name].added + 1
            return [chosen]
        # linear: Asterisk keeps a position per caller (qe->linpos), so a
        # retry after ring-no-answer moves on to the next member.
        after = [m for m in candidates
            if m.memberships[queue.name].added > caller.linear_position]
        chosen = (after or candidates)[0]
        caller.linear_position = chosen.memberships[queue.name].added
        return [chosen]

    def dispatch_all(self):
        for queue in self.queues.values():
            self.dispatch(queue)

    def dispatch(self, queue):
        "Offer waiting callers to free members (autofill: several at once)."
        for caller in list(queue.waiting):
            if caller.ringing:
                continue
            candidates = self.available(queue)
            if not candidates:
                return
            for member in self.choose(queue, candidates, caller):
                self.ring(caller, member)

    def ring(self, caller, member):
        linkedid = caller.channel.linkedid
        local_two = None
        local = member.interface.startswith('Local/')
        if local:
            dest, local_two = self.new_local(
                member.interface[len('Local/'):].rsplit('/', 1)[0], linkedid,
                caller.channel)
        else:
            dest = self.new_channel(member.interface, linkedid,
                caller_num=caller.plan.caller, exten=caller.channel.exten)
        self.emit('AgentCalled', caller.channel.headers(),
            dest.headers('Dest'), Queue=caller.queue,
            MemberName=member.name, Interface=member.interface)
        # Behind a Local member, the ;2 half dials the phone afterwards.
        phone = self.new_channel(member.state_interface, linkedid,
            caller_num=caller.plan.caller, exten=local_two.exten) if local \
            else dest
        leg = AgentLeg(member, caller.queue, dest, phone, local_two,
            called=self.now)
        caller.ringing[member.interface] = leg
        self.member_status(member, ringing=True)
        plan = caller.plan
        if member.interface in plan.no_answer or (
                self.random.random() < member.no_answer_probability):
            self.at(self.queues[caller.queue].timeout, self.ring_no_answer,
                caller, leg)
        else:
            delay = plan.answer_delay.get(
                member.interface, member.answer_delay)
            self.at(delay, self.answer, caller, leg)

    def drop_leg(self, leg, cause):
        for channel in (leg.phone, leg.local_two, leg.dest):
            if channel is not None:
                self.hangup(channel, cause)

    def cancel_ringing(self, caller, keep=None):
        for interface, leg in list(caller.ringing.items()):
            if leg is keep:
                continue
            self.drop_leg(leg, CAUSE_ELSEWHERE)
            self.member_status(leg.member, ringing=False)
            del caller.ringing[interface]

    def ring_no_answer(self, caller, leg):
        if caller.ringing.get(leg.member.interface) is not leg:
            return
        del caller.ringing[leg.member.interface]
        if caller.preferred == leg.member.interface:
            caller.preferred = None  # affinity is tried once, then the queue
        self.emit('AgentRingNoAnswer', caller.channel.headers(),
            leg.dest.headers('Dest'), Queue=leg.queue,
            MemberName=leg.member.name, Interface=leg.member.interface,
            RingTime=int((self.now - leg.called).total_seconds()))
        self.drop_leg(leg, CAUSE_NORMAL)
        self.member_status(leg.member, ringing=False)
        queue = self.queues[leg.queue]
        self.at(queue.retry, self.dispatch, queue)

    def answer(self, caller, leg):
        if caller.ringing.get(leg.member.interface) is not leg or caller.done:
            return
        self.cancel_ringing(caller, keep=leg)
        caller.ringing.clear()
        for channel in (leg.phone, leg.local_two, leg.dest):
            if channel is not None:
                self.set_up(channel)
        member = leg.member
        self.member_status(member, ringing=False, in_call=True)
        caller.leg = leg
        for timer in caller.timers:
            self.cancel(timer)
        held = int((self.now - caller.joined).total_seconds())
        self.leave_queue(caller)
        self.emit('AgentConnect', caller.channel.headers(),
            leg.dest.headers('Dest'), Queue=leg.queue,
            MemberName=member.name, Interface=member.interface,
            HoldTime=held,
            RingTime=int((self.now - leg.called).total_seconds()))
        self.bridge(caller.channel, leg.dest)
        if leg.local_two is not None:
            self.bridge(leg.local_two, leg.phone)
        self.plan_conversation(caller)
        self.dispatch_all()

    def plan_conversation(self, caller):
        if isinstance(caller, ConsultEntry):
            self._consult_answered(caller)
            return
        plan = caller.plan
        for hold in plan.holds:
            self.at(hold['at'], self.hold, caller, True)
            self.at(hold['at'] + hold['duration'], self.hold, caller, False)
        if plan.transfer and not caller.transferred:
            kind = plan.transfer['kind']
            step = self.blind_transfer if kind == 'blind' else (
                self.attended_transfer)
            self.at(plan.transfer['at'], step, caller, plan.transfer)
        else:
            # After a transfer through a queue: the talk after the transfer.
            talk = plan.transfer.get('after', plan.talk) if (
                caller.transferred) else plan.talk
            caller.timers = [self.at(talk, self.caller_hangs_up, caller)]

    def hold(self, caller, on):
        "The agent of the caller's plan holds (``on``) or takes it back."
        leg = caller.leg
        if caller.done or leg is None or leg.gone:
            return
        self.emit_hold(leg.phone, on)

    def phone_hold(self, device, on):
        """The phone on ``device`` holds its call (``on``) or takes it
        back, as with its hold key, whoever placed the call: False when
        it has no call in a bridge."""
        channel = next((c for c in self.channels.values()
            if c.bridge and c.name.rsplit('-', 1)[0] == device), None)
        if channel is None:
            return False
        self.emit_hold(channel, on)
        return True

    def emit_hold(self, channel, on):
        "Hold or Unhold of the channel whose phone pressed the key."
        if on:
            self.emit('Hold', channel.headers(), MusicClass='default')
        else:
            self.emit('Unhold', channel.headers())

    def agent_complete(self, caller, leg, reason):
        "app_queue's end of a member's call, and the member's release."
        member = leg.member
        if member is None:
            return
        self.emit('AgentComplete', caller.channel.headers(),
            leg.dest.headers('Dest'), Queue=leg.queue,
            MemberName=member.name, Interface=member.interface,
            HoldTime=int(
                (leg.dest.answered - caller.joined).total_seconds()),
            TalkTime=int((self.now - leg.dest.answered).total_seconds()),
            Reason=reason)
        self.release(member, leg.queue)

    def release(self, member, queue_name):
        if not member.in_call:
            return
        member.last_call = self.now
        membership = member.memberships.get(queue_name)
        if membership:
            membership.calls += 1
        wrapup = self.queues[queue_name].wrapuptime if queue_name else 0
        member.wrap_until = self.now + dt.timedelta(seconds=wrapup)
        self.member_status(member, in_call=False)
        if wrapup:
            self.at(wrapup, self.dispatch_all)
        self.dispatch_all()

    def caller_hangs_up(self, caller):
        "Normal end: the caller hangs up, the bridge and its legs follow."
        if caller.done:
            return
        leg, linked = caller.leg, self.linked_channels(caller)
        self.leave(caller.channel)
        for channel in linked:
            self.leave(channel)
        if leg is not None:
            self.agent_complete(caller, leg, 'caller')
        self.end_caller(caller, 'Queue' if caller.queue else 'Dial',
            linked=linked)

    def linked_channels(self, caller):
        "Every other live channel of the call (same Linkedid)."
        return [channel for channel in list(self.channels.values())
            if channel.linkedid == caller.channel.linkedid
            and channel is not caller.channel]

    # -- transfers ----------------------------------------------------------

    def transferee(self, leg, caller):
        "The channel on the far side of the agent's phone."
        return leg.local_two if leg.local_two is not None else caller.channel

    def blind_transfer(self, caller, transfer):
        leg = caller.leg
        if caller.done or leg is None:
            return
        caller.transferred = True
        transferee = self.transferee(leg, caller)
        self.emit('BlindTransfer', {'Result': 'Success'},
            leg.phone.headers('Transferer'), transferee.headers('Transferee'),
            self.bridge_headers(leg.phone.bridge), IsExternal='No',
            Context='from-internal', Extension=transfer['target'])
        self.leave(transferee)
        self.leave(leg.phone)
        self.hangup(leg.phone)
        self.agent_leaves(caller, leg)
        if transfer['target'] in self.queues:
            self.requeue(caller, transferee, transfer['target'])
            return
        target = self.target_channel(caller, transfer['target'], transferee)
        self.at(transfer.get('ring', 2), self.target_answers, caller,
            transferee, target, transfer)

    def requeue(self, caller, transferee, queue):
        """A blind transfer to a queue's extension: the caller runs Queue()
        again and app_queue offers it to the members."""
        if transferee is not caller.channel:
            # Behind a Local member the ;2 half would queue, as a caller of
            # its own: not modelled; the caller hangs up instead.
            logger.warning('blind transfer to queue %s from a Local-channel '
                'member is not simulated', queue)
            self.caller_hangs_up(caller)
            return
        self.join(caller, queue)

    def agent_leaves(self, caller, leg):
        """The agent's phone is off the call.  app_queue notices only when it
        dialled the phone itself; behind a Local channel it goes on counting
        talk time until the caller hangs up (field research 2.4)."""
        leg.gone = True
        if leg.local_two is None:
            self.agent_complete(caller, leg, 'transfer')
            caller.leg = None
        else:
            self.release(leg.member, leg.queue)

    def target_channel(self, caller, target, source):
        """Dial(PJSIP/``target``) from ``source``, as the dialplan does for
        a transfer: the phone's channel is created (Down), app_dial sends
        DialBegin, and the phone rings (Newstate Ringing)."""
        device = f'PJSIP/{target}'
        channel = self.new_channel(device, caller.channel.linkedid,
            caller_num=caller.plan.caller, exten=target, state=0)
        self.emit('DialBegin', source.headers(), channel.headers('Dest'),
            DialString=target)
        channel.state = 5
        self.emit('Newstate', channel.headers())
        member = self.member_on_device(device)
        if member is not None:
            self.member_status(member, ringing=True)
        return channel

    def target_answered(self, source, target):
        """The dialled phone answers: Newstate Up, then app_dial's DialEnd
        ANSWER; the bridge comes next."""
        self.set_up(target)
        self.emit('DialEnd', source.headers(), target.headers('Dest'),
            DialStatus='ANSWER')
        member = self.member_on_device(target.name.rsplit('-', 1)[0])
        if member is not None:
            self.member_status(member, ringing=False, in_call=True)

    def member_on_device(self, device):
        for member in self.members.values():
            if member.state_interface == device:
                return member
        return None

    def target_lost(self, target):
        "The caller hung up while the dialled phone rang: its member is free."
        member = self.member_on_device(target.name.rsplit('-', 1)[0])
        if member is not None and member.ringing:
            self.member_status(member, ringing=False)

    def target_answers(self, caller, transferee, target, transfer):
        if caller.done:
            self.target_lost(target)
            return
        self.target_answered(transferee, target)
        self.bridge(transferee, target)
        self.at(transfer.get('after', caller.plan.talk),
            self.transferred_call_ends, caller, target)

    def transferred_call_ends(self, caller, target):
        self.caller_hangs_up(caller)
        member = self.member_on_device(target.name.rsplit('-', 1)[0])
        if member is not None:
            self.release(member, None)

    def attended_transfer(self, caller, transfer):
        "Atxfer: the agent consults the target, then hands the caller over."
        leg = caller.leg
        if caller.done or leg is None:
            return
        caller.transferred = True
        original = leg.phone.bridge
        one, two = self.new_local(f'{transfer["target"]}@from-internal',
            caller.channel.linkedid, leg.phone)
        if transfer['target'] in self.queues:
            self.leave(leg.phone)
            entry = ConsultEntry(two, CallPlan(caller=caller.plan.caller,
                dnis=transfer['target'], queue=transfer['target']),
                consult=(caller, leg, one, original, transfer))
            self.join(entry, transfer['target'])
            return
        target = self.target_channel(caller, transfer['target'], two)
        self.leave(leg.phone)
        self.at(transfer.get('ring', 2), self._consult, caller, leg,
            (one, two, target), original, transfer)

    def _consult(self, caller, leg, channels, original, transfer):
        one, two, target = channels
        if caller.done:
            self.target_lost(target)
            return
        self.target_answered(two, target)
        self.bridge(two, target)
        consult = self.bridge(leg.phone, one)
        end = (self._cancel_consult if transfer.get('cancel')
            else self._complete_attended)
        self.at(transfer.get('consult', 10), end, caller, leg, channels,
            (original, consult), transfer)

    def _cancel_consult(self, caller, leg, channels, bridges, transfer):
        """The agent gives the consultation up (Atxfer aborted): the
        consulted phone and the Local channel hang up, the agent is back
        with the caller, who talks ``after`` seconds more."""
        if caller.done:
            return
        one, two, target = channels
        for channel in (target, two, one):
            self.hangup(channel)
        member = self.member_on_device(target.name.rsplit('-', 1)[0])
        if member is not None:
            self.release(member, None)
        self.leave(leg.phone)
        self.enter(bridges[0], leg.phone)
        caller.timers = [self.at(transfer.get('after', caller.plan.talk),
                self.caller_hangs_up, caller)]

    def _consult_answered(self, entry):
        "A member answered the queued consultation: the agent talks to them."
        caller, leg, one, original, transfer = entry.consult
        if caller.done:
            return
        consult = self.bridge(leg.phone, one)
        self.at(transfer.get('consult', 10), self._complete_attended, caller,
            leg, (one, entry.channel, entry.leg.phone), (original, consult),
            transfer)

    def _complete_attended(self, caller, leg, channels, bridges, transfer):
        if caller.done:
            return
        one, two, target = channels
        original, consult = bridges
        transferee = self.transferee(leg, caller)
        self.emit('AttendedTransfer', {'Result': 'Success'},
            leg.phone.headers('OrigTransferer'),
            {'Orig' + key: value for key, value in
                self.bridge_headers(original).items()},
            leg.phone.headers('SecondTransferer'),
            {'Second' + key: value for key, value in
                self.bridge_headers(consult).items()},
            transferee.headers('Transferee'), one.headers('TransferTarget'),
            DestType='Link', IsExternal='No')
        self.leave(one)
        self.hangup(leg.phone)
        self.agent_leaves(caller, leg)
        self.enter(original, one)
        self.at(transfer.get('after', caller.plan.talk),
            self.transferred_call_ends, caller, target)

    # -- AMI actions on calls ------------------------------------------------

    def channel_named(self, name):
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        return None

    def caller_of(self, channel):
        for caller in self.callers.values():
            if caller.channel.linkedid == channel.linkedid:
                return caller
        return None

    def hangup_channel(self, name):
        "AMI Hangup: end the call the channel belongs to."
        channel = self.channel_named(name)
        if channel is None:
            return False
        caller = self.caller_of(channel)
        if caller is None:
            self.hangup(channel)
            self.cdr(channel, 'AppDial', answered=channel.answered)
        elif caller.queue and caller in self.queues[caller.queue].waiting:
            self.abandon(caller)
        else:
            self.caller_hangs_up(caller)
        return True

    def answered_call_of(self, name):
        "The answered caller whose call has the channel ``name``, if any."
        channel = self.channel_named(name)
        caller = self.caller_of(channel) if channel else None
        if caller is None or caller.leg is None or caller.leg.gone:
            return None
        return caller

    def redirect(self, name, exten):
        """AMI Redirect of the caller's channel to ``exten``: it leaves the
        agent's bridge; Asterisk reports no transfer event for that."""
        caller = self.answered_call_of(name)
        if caller is None or caller.channel.name != name:
            return False
        leg = caller.leg
        self.leave(caller.channel)
        self.drop_leg(leg, CAUSE_NORMAL)
        self.agent_complete(caller, leg, 'transfer')
        caller.leg = None
        target = self.target_channel(caller, exten, caller.channel)
        self.at(2, self.target_answers, caller, caller.channel, target, {})
        return True

    def blind_transfer_action(self, name, exten):
        "AMI BlindTransfer of the agent's phone channel."
        caller = self.answered_call_of(name)
        if caller is None or caller.leg.phone.name != name:
            return False
        self.blind_transfer(caller, {'target': exten})
        return True

    def atxfer(self, name, exten):
        "AMI Atxfer from the agent's phone channel."
        caller = self.answered_call_of(name)
        if caller is None or caller.leg.phone.name != name:
            return False
        self.attended_transfer(caller, {'target': exten, 'consult': 10})
        return True

    def originate(self, device, exten='', application='', caller_id='',
            channel_id=None, other_channel_id=None, timeout=30.0,
            action_id='', context='', data=''):
        """AMI Originate (Async): a channel on ``device`` rings (its
        Uniqueid ``channel_id`` when given, Asterisk 13+, and so the
        Linkedid of the whole call; ``other_channel_id`` names a Local
        channel's ;2 half). A queue member's phone answers after its
        answer delay, within ``timeout`` seconds, any other at once. Then
        ``application`` (with ``data``) runs on it (ChanSpy for a
        supervisor) or ``exten`` is dialled from it, in ``context``.
        OriginateResponse tells how it went; a ChannelId in use fails it,
        as Asterisk refuses the channel. Returns the channel (None when it
        could not be created)."""
        request = Origination(context, exten, application, data, action_id)
        if channel_id and channel_id in self.channels:
            self.originate_response(request, ORIGINATE_FAILED, device)
            return None
        values = dict(caller_num=caller_id or device, exten=exten or 's',
            state=0)
        if device.startswith('Local/'):
            channel, _ = self.new_local_pair(device, channel_id,
                other_channel_id, values)
        else:
            channel = self.new_channel(device, uniqueid=channel_id, **values)
        member = self.member_on_device(device)
        channel.state = 5
        self.emit('Newstate', channel.headers())
        if member is None:
            self.originate_answered(channel, request)
        elif member.answer_delay < timeout:
            self.member_status(member, ringing=True)
            self.at(member.answer_delay, self.originate_answered, channel,
                request)
        else:
            self.member_status(member, ringing=True)
            self.at(timeout, self.originate_unanswered, channel, request)
        return channel

    def new_local_pair(self, device, channel_id, other_channel_id, values):
        "Both halves of an originated Local channel, ids as assigned."
        base = f'{device}-{next(self._ids):08x}'
        halves = []
        for half, uniqueid in (('1', channel_id), ('2', other_channel_id)):
            uniqueid = uniqueid or self.new_uniqueid()
            channel = Channel(uniqueid, halves[0].linkedid if halves
                else uniqueid, f'{base};{half}', born=self.now, **values)
            self.channels[uniqueid] = channel
            self.emit('Newchannel', channel.headers())
            halves.append(channel)
        return halves

    def originate_response(self, request, reason, device, channel=None):
        """OriginateResponse as manager.c's fast_originate sends it: the
        Context, Exten, Application and Data of the action (the Context
        of the channel's dialplan location when the action named none)."""
        headers = {'ActionID': request.action_id} if (
            request.action_id) else {}
        context = request.context or (channel.context if channel else '')
        self.emit('OriginateResponse', **headers,
            Response='Success' if reason == ORIGINATE_ANSWERED
            else 'Failure',
            Channel=channel.name if channel else device,
            Context=context, Exten=request.exten,
            Application=request.application, Data=request.data,
            Reason=reason,
            Uniqueid=channel.uniqueid if channel else '<null>',
            CallerIDNum=channel.caller_num if channel else '<unknown>',
            CallerIDName='<unknown>')

    def originate_answered(self, channel, request):
        if channel.uniqueid not in self.channels:
            return
        self.set_up(channel)
        member = self.member_on_device(channel.name.rsplit('-', 1)[0])
        if member is not None:
            self.member_status(member, ringing=False, in_call=True)
        self.originate_response(request, ORIGINATE_ANSWERED, '', channel)
        if request.application:
            channel.variables['APP'] = request.application
        elif request.exten:
            caller = Caller(channel, CallPlan(caller=channel.caller_num,
                    dnis=request.exten))
            self.callers[channel.uniqueid] = caller
            self.dial_callee(caller, request.exten)

    def originate_unanswered(self, channel, request):
        "The phone rang the whole Originate timeout: no call."
        if channel.uniqueid not in self.channels or channel.state == 6:
            return
        self.hangup(channel, CAUSE_NO_ANSWER)
        self.free_device(channel)
        self.originate_response(request, ORIGINATE_NO_ANSWER, '', channel)

    def dial_callee(self, caller, number):
        """The dialplan's Dial(PJSIP/trunk/``number``,30) from the answered
        phone: the trunk channel rings the number (DialBegin), which
        answers (DialEnd ANSWER, bridged) or not (DialEnd NOANSWER)."""
        phone = caller.channel
        callee = self.callees.get(number, Callee())
        trunk = self.new_channel('PJSIP/trunk', phone.linkedid,
            caller_num=phone.caller_num, exten=number, state=0)
        self.emit('DialBegin', phone.headers(), trunk.headers('Dest'),
            DialString=f'trunk/{number}')
        trunk.state = 5
        self.emit('Newstate', trunk.headers())
        caller.plan.talk = callee.talk
        if callee.answer is None or callee.answer >= DIAL_TIMEOUT:
            caller.timers = [self.at(DIAL_TIMEOUT, self.callee_unanswered,
                    caller, trunk)]
        else:
            caller.timers = [self.at(callee.answer, self.callee_answers,
                    caller, trunk)]

    def callee_answers(self, caller, trunk):
        if caller.done:
            return
        self.target_answered(caller.channel, trunk)
        self.bridge(caller.channel, trunk)
        caller.leg = AgentLeg(None, None, trunk, trunk)
        caller.timers = [self.at(caller.plan.talk, self.caller_hangs_up,
                caller)]

    def callee_unanswered(self, caller, trunk):
        if caller.done:
            return
        self.emit('DialEnd', caller.channel.headers(), trunk.headers('Dest'),
            DialStatus='NOANSWER')
        self.hangup(trunk)
        self.end_caller(caller, 'Dial')
