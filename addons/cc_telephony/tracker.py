"""Turn an ordered AMI event stream into call facts and agent intervals.

Pure state machine: no I/O, no ORM.  ``feed(event)`` takes events as dicts
(``Timestamp`` header required, as given by ``timestampevents=yes`` in
manager.conf) and reports through ``on_fact(kind, data)`` with kind
``'call'`` (when a call has ended) or ``'interval'`` (when an agent state
interval has closed).  See doc/pbx.rst for the definitions of each figure.

Channels are tied to calls by ``Linkedid`` (Asterisk copies the first
channel's Uniqueid to every channel created on its behalf), and to agent
legs by the queue's ``AgentCalled`` plus Local channel pairs and bridges:
with Local-channel queue members the agent's phone is not the channel
app_queue dialled, which is why queue_log misses their transfers.
"""
import collections
import datetime as dt
import hashlib
import heapq
import itertools
import json
import logging
import pickle
from dataclasses import dataclass, field

from .spool import set_aside, write_atomically

logger = logging.getLogger(__name__)

IDLE_STATES = ('logged_out', 'ready', 'not_ready')
# Device states of QueueMember.Status that mean the phone is busy or ringing.
BUSY_STATUSES = ('2', '3')
RINGING_STATUSES = ('6', '7')
CAUSE_CALL_REJECTED = '21'
# QUEUESTATUS values of a Queue() that let its caller go itself (the wait
# was over, or nobody could answer): app_queue counts them as abandons.
QUEUE_LET_GO = {'TIMEOUT', 'LEAVEEMPTY', 'LEAVEUNAVAIL'}
SEEN_KEYS_KEPT = 200_000
# 2: the state carries the identity of its database incarnation.
STATE_VERSION = 2
STATE_SEEN_KEPT = 5_000


def event_time(event):
    "Naive UTC datetime of an event's ``Timestamp`` header, or None."
    try:
        stamp = float(event['Timestamp'])
    except (KeyError, ValueError):
        return None
    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc).replace(
        tzinfo=None)


def event_key(event):
    """Identity of an event, for dropping duplicates.

    The whole content is hashed rather than Uniqueid+Event+Timestamp alone:
    a ringall queue sends several AgentCalled with the same caller Uniqueid
    and Timestamp that differ only by member.
    """
    text = json.dumps(event, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(text.encode('utf-8')).digest()


def device_of(channel_name):
    "'PJSIP/1001-0000002a' -> 'PJSIP/1001'; a Local half loses ';n' too."
    name = channel_name.split(';')[0]
    return name.rsplit('-', 1)[0] if '-' in name else name


def is_local(channel_name):
    return channel_name.startswith('Local/')


def local_partner(channel_name):
    "Name of the other half of a Local channel."
    base, _, half = channel_name.rpartition(';')
    return f'{base};{"2" if half == "1" else "1"}'


def seconds(start, end):
    return round((end - start).total_seconds(), 3) if start and end else 0.0


@dataclass
class Leg:
    interface: str
    queue: str | None
    ring_start: dt.datetime
    channels: set = field(default_factory=set)
    from_queue: bool = True
    answer_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    hold_start: dt.datetime | None = None
    hold_seconds: float = 0.0
    result: str | None = None
    transfer_target: str | None = None
    # The agent's screen pop was sent for this leg (see screenpop.py).
    popped: bool = False

    @property
    def active(self):
        return self.end_time is None

    def close(self, when, result):
        "End the leg once; later ends (AgentComplete after a transfer) lose."
        if not self.active:
            return False
        if self.hold_start is not None:
            self.hold_seconds += seconds(self.hold_start, when)
            self.hold_start = None
        self.end_time = when
        self.result = result
        return True

    def as_fact(self):
        end = self.end_time
        return {
            'agent_interface': self.interface,
            'ring_start': self.ring_start,
            'answer_time': self.answer_time,
            'end_time': end,
            'ring_seconds': seconds(self.ring_start, self.answer_time or end),
            'talk_seconds': round(
                seconds(self.answer_time, end) - self.hold_seconds, 3),
            'hold_seconds': round(self.hold_seconds, 3),
            'result': self.result,
            'transfer_target': self.transfer_target,
            }


@dataclass
class Call:
    uniqueid: str
    linkedid: str
    direction: str
    caller_raw: str
    dnis: str
    enter_time: dt.datetime
    live: set = field(default_factory=set)
    legs: list = field(default_factory=list)
    queues: list = field(default_factory=list)
    join_time: dt.datetime | None = None
    leave_time: dt.datetime | None = None
    abandon_position: int | None = None
    end_time: dt.datetime | None = None
    hangup_cause: str | None = None
    ivr_path: str | None = None
    cdr: dict | None = None

    def answered_legs(self):
        return [leg for leg in self.legs if leg.answer_time]

    def talking_leg(self):
        for leg in reversed(self.legs):
            if leg.answer_time and leg.active:
                return leg
        return None

    def result(self):
        legs = self.answered_legs()
        last_app = (self.cdr or {}).get('LastApplication', '')
        if any(leg.result.startswith('transferred') for leg in legs):
            return 'transferred'
        if any(leg.from_queue or not self.queues for leg in legs):
            return 'answered'
        if self.abandon_position is not None:
            return 'abandoned'
        if last_app.lower() == 'voicemail':
            return 'voicemail'
        if self.queues and (len(self.queues) > 1 or legs):
            return 'overflowed'
        if self.queues:
            return 'timeout'
        if self.hangup_cause == CAUSE_CALL_REJECTED:
            return 'rejected'
        return 'no_answer'

    def as_fact(self):
        answers = [leg.answer_time for leg in self.answered_legs()]
        answer_time = min(answers) if answers else None
        wait_end = answer_time or self.leave_time or self.end_time
        cdr = self.cdr or {}
        return {
            'uniqueid': self.uniqueid,
            'linkedid': self.linkedid,
            'direction': self.direction,
            'caller_raw': self.caller_raw,
            'dnis': self.dnis,
            'queue': self.queues[-1] if self.queues else None,
            'enter_time': self.enter_time,
            'answer_time': answer_time,
            'end_time': self.end_time,
            'result': self.result(),
            'abandon_position': self.abandon_position,
            'wait_seconds': seconds(self.join_time, wait_end),
            'recording': cdr.get('UserField') or None,
            'ivr_path': self.ivr_path,
            'legs': [leg.as_fact() for leg in sorted(
                self.legs, key=lambda leg: leg.ring_start)],
            }


@dataclass
class Agent:
    interface: str
    state: str = 'logged_out'
    reason: str | None = None
    queue: str | None = None
    start: dt.datetime | None = None
    memberships: set = field(default_factory=set)
    pauses: dict = field(default_factory=dict)  # queue -> reason
    pause_reason: str | None = None

    @property
    def paused(self):
        """Paused in every queue: paused in some only still takes calls."""
        return bool(self.memberships) and self.memberships <= set(self.pauses)

    def set_pause(self, queue, paused, reason):
        if not paused:
            self.pauses.pop(queue, None)
        elif self.pauses.get(queue, object()) != reason:
            # A new pause or a new reason; a status repeating it is not.
            self.pause_reason = reason
            self.pauses[queue] = reason
    pbx_wrapup: int = 0
    leg: Leg | None = None
    wrap_until: dt.datetime | None = None
    # Uniqueid of the last call the agent handed over by a transfer (from
    # the console or the phone): no longer theirs, but their wrap-up is.
    transferred_call: str | None = None


class Tracker:
    """Follow calls and agents; report facts through ``on_fact``.

    ``wrapup_seconds(interface)`` gives an agent's configured after-call
    work time (None: use the Wrapuptime Asterisk reports for the member).
    ``inbound_contexts`` are the dialplan contexts where trunk calls enter.
    ``cdr_grace`` is how long after the last hangup a call waits for its
    Cdr event (which carries the recording and the last application).
    """

    def __init__(self, on_fact, inbound_contexts=('from-pstn', 'from-trunk'),
            wrapup_seconds=None, internal_exten_length=6, cdr_grace=5.0):
        self.on_fact = on_fact
        self.inbound_contexts = set(inbound_contexts)
        self.wrapup_seconds = wrapup_seconds or (lambda interface: None)
        self.internal_exten_length = internal_exten_length
        self.cdr_grace = dt.timedelta(seconds=cdr_grace)
        self.calls = {}          # linkedid -> Call
        self.channel_call = {}   # uniqueid -> Call
        self.channel_names = {}  # uniqueid -> channel name
        self.name_uniqueid = {}  # channel name -> uniqueid
        self.channel_born = {}   # uniqueid -> creation time
        self.bridges = collections.defaultdict(set)
        self.channel_bridge = {}  # uniqueid -> bridge it is in
        self.agents = {}
        self.devices = {}        # StateInterface -> member interface
        self.ended = []
        self.now = None
        # PBX time of the last event applied; ``now`` also moves by ticks.
        self.heard = None
        # Set by ``cut``: the last moment the PBX was heard from before the
        # event stream broke, and the channels followed then.
        self.alive_until = None
        self.cut_channels = None
        # CoreStartupDate and CoreStartupTime of the PBX followed.
        self.pbx_started = None
        # (end, order, interface) of running wrap-ups, soonest first.
        self._wrapups = []
        self._order = itertools.count()
        self._seen = collections.OrderedDict()

    # -- entry points -------------------------------------------------------

    def feed(self, event):
        "Apply one event; an event already applied is ignored."
        key = event_key(event)
        if key in self._seen:
            return False
        when = event_time(event) or self.now
        if when is None:
            logger.warning('event without Timestamp skipped (is '
                'timestampevents=yes set in manager.conf?): %r', event)
            return False
        self._remember(key)
        self.tick(when)
        self.heard = max(when, self.heard) if self.heard else when
        handler = getattr(self, f'_on_{event.get("Event", "")}', None)
        try:
            if handler is not None:
                handler(event, when)
        except (KeyError, ValueError) as error:
            logger.warning('event without a usable %s skipped: %r', error,
                event)
        self._emit_ended(when, cdr_only=True)
        return True

    def tick(self, now):
        "Let time pass: end due wrap-ups, emit calls whose Cdr is overdue."
        self.now = max(now, self.now) if self.now else now
        while self._wrapups and self._wrapups[0][0] <= now:
            due, _, interface = heapq.heappop(self._wrapups)
            agent = self.agents[interface]
            # Stale entries: the wrap-up already ended on a pause or a call.
            if agent.state == 'wrap_up' and agent.wrap_until == due:
                self._to_idle(agent, due)
        self._emit_ended(now)

    def flush(self):
        "Emit every ended call now, without waiting for its Cdr."
        self._emit_ended(None)

    # What comes from the configuration, not from the events followed.
    _SETTINGS = frozenset({'on_fact', 'inbound_contexts', 'wrapup_seconds',
            'internal_exten_length', 'cdr_grace', '_order'})

    def save_state(self, path, identity=None):
        """Write the calls and agents followed to ``path``, atomically, for
        the next process to take over (see ``load_state``); ``identity``
        names what the state belongs to (a database incarnation)."""
        state = {key: value for key, value in vars(self).items()
            if key not in self._SETTINGS}
        # A successor only meets again the events of the last moments
        # (a replayed buffer), and the whole set is megabytes to pickle and
        # write every checkpoint: the newest keys are enough.
        newest = list(itertools.islice(reversed(self._seen), STATE_SEEN_KEPT))
        state['_seen'] = collections.OrderedDict.fromkeys(reversed(newest))
        write_atomically(path, pickle.dumps((STATE_VERSION, identity, state),
                protocol=pickle.HIGHEST_PROTOCOL))

    def load_state(self, path, identity=None):
        """Take over the state ``save_state`` wrote: the calls in progress
        and the agents' states go on where the last process left them
        instead of being lost with it. False when there is nothing usable
        (the caller then starts from a resync alone).

        A state saved for another ``identity`` (another database, or an
        earlier incarnation of this one) is not taken over: its calls are
        not this database's. It is moved aside, for a human to look at."""
        try:
            with open(path, 'rb') as file:
                version, *saved = pickle.load(file)
        except FileNotFoundError:
            return False
        except Exception as error:
            logger.warning('tracker state %s unreadable (%s): ignored',
                path, error)
            return False
        if version != STATE_VERSION:
            logger.warning('tracker state %s has version %s, not %s: '
                'ignored', path, version, STATE_VERSION)
            return False
        owner, state = saved
        if owner != identity:
            aside = set_aside(path)
            logger.warning('tracker state %s belongs to %s, not %s: not '
                'taken over, moved to %s', path, owner, identity, aside)
            return False
        vars(self).update(state)
        return True

    def resync(self, queue_status_events, now=None, live_channels=None):
        """Rebuild membership and agent state from a QueueStatus answer.

        Events missed during an AMI cut are gone for good; QueueStatus tells
        who is a member, paused (with reason) or busy right now, and which
        callers wait.  Agents whose call we followed keep their state.
        ``live_channels`` (Uniqueids from CoreShowChannels) ends the channels
        that hung up unseen (see ``reap``).
        """
        now = now or self.now
        if live_channels is not None:
            self.reap(live_channels)
        members = collections.defaultdict(list)
        for event in queue_status_events:
            if event.get('Event') == 'QueueMember':
                interface = event.get('Location') or event.get('Interface')
                members[interface].append(event)
            elif event.get('Event') == 'QueueEntry':
                self._resync_entry(event, now)
        for interface in set(members) | set(self.agents):
            self._resync_agent(
                self._agent(interface), members.get(interface, []), now)

    # -- channels and calls -------------------------------------------------

    def _on_Newchannel(self, event, when):
        uniqueid, linkedid = event['Uniqueid'], event['Linkedid']
        self._name(uniqueid, event['Channel'])
        self.channel_born[uniqueid] = when
        call = self.calls.get(linkedid)
        if call is None and uniqueid == linkedid and not is_local(
                event['Channel']):
            call = self._new_call(event, when)
            self._placed_by_agent(call, event, when)
        if call is not None:
            self._own(call, uniqueid)

    def _new_call(self, event, when):
        exten = event.get('Exten', '')
        if event.get('Context') in self.inbound_contexts:
            direction = 'inbound'
        elif len(exten) > self.internal_exten_length:
            direction = 'outbound'
        else:
            direction = 'internal'
        call = Call(event['Uniqueid'], event['Linkedid'], direction,
            event.get('CallerIDNum', ''), exten, when)
        self.calls[call.linkedid] = call
        return call

    def _placed_by_agent(self, call, event, when):
        """A call whose first channel is an agent's phone: an Originate
        (click-to-dial, a callback) rings it first, or the agent dials
        from it (state Ring). Not a leg of the call, whose legs are the
        parties reached, but the agent is busy with it until it hangs up."""
        agent = self.agents.get(self._interface_of(event['Channel']))
        if agent is None or agent.leg is not None:
            return
        agent.leg = Leg(agent.interface, None, when, {call.uniqueid},
            from_queue=False)
        if event.get('ChannelState') == '4':
            self._answer_direct(agent.leg, when)
        else:
            self._set_state(agent, 'ringing', when)

    def _placing_leg(self, call, uniqueid):
        "The agent's own leg of ``call`` when ``uniqueid`` placed it."
        if uniqueid != call.uniqueid:
            return None
        agent = self.agents.get(self._interface_of(
                self.channel_names.get(uniqueid, '')))
        leg = agent.leg if agent is not None else None
        return leg if leg is not None and uniqueid in leg.channels else None

    def _on_Newstate(self, event, when):
        "The agent's phone rung by an Originate answered."
        call = self.channel_call.get(event['Uniqueid'])
        if call is None or event.get('ChannelState') != '6':
            return
        leg = self._placing_leg(call, event['Uniqueid'])
        if leg is not None:
            self._answer_direct(leg, when)

    def _own(self, call, uniqueid):
        self.channel_call[uniqueid] = call
        call.live.add(uniqueid)

    def _name(self, uniqueid, name):
        self.channel_names[uniqueid] = name
        self.name_uniqueid[name] = uniqueid

    def _on_VarSet(self, event, when):
        call = self.channel_call.get(event.get('Uniqueid'))
        if call is None:
            return
        variable = event.get('Variable')
        if variable == 'CC_IVR_PATH':
            call.ivr_path = event.get('Value') or None
        elif (variable == 'QUEUESTATUS'
                and event.get('Value') in QUEUE_LET_GO):
            # app_queue sends QueueCallerAbandon also when it lets the
            # caller go (record_abandoned): Queue() returned, so the caller
            # did not hang up.
            call.abandon_position = None

    def _on_Hangup(self, event, when):
        self._hang_up(event['Uniqueid'], when, event.get('Cause'))

    def _hang_up(self, uniqueid, when, cause, seen=True):
        call = self.channel_call.pop(uniqueid, None)
        if call is not None:
            if uniqueid == call.uniqueid:
                call.hangup_cause = cause
            placing = self._placing_leg(call, uniqueid)
            for leg in call.legs + ([placing] if placing else []):
                if uniqueid in leg.channels:
                    self._end_leg(leg, when, 'hangup' if seen else 'unseen')
            call.live.discard(uniqueid)
            if not call.live:
                call.end_time = when
                self.ended.append(call)
        self._forget_channel(uniqueid)

    def _forget_channel(self, uniqueid):
        name = self.channel_names.pop(uniqueid, None)
        self.name_uniqueid.pop(name, None)
        self.channel_born.pop(uniqueid, None)
        self._unbridge(uniqueid)

    def _unbridge(self, uniqueid):
        bridge = self.channel_bridge.pop(uniqueid, None)
        if bridge in self.bridges:
            self.bridges[bridge].discard(uniqueid)
            if not self.bridges[bridge]:
                del self.bridges[bridge]

    def _on_Cdr(self, event, when):
        uniqueid = event.get('UniqueID') or event.get('Uniqueid')
        for call in self.ended + [self.calls.get(uniqueid)]:
            if call is not None and call.uniqueid == uniqueid:
                call.cdr = event

    def _emit_ended(self, now, cdr_only=False):
        """Emit ended calls whose Cdr came, or (unless ``cdr_only``) whose
        grace is over; ``now`` None means all of them."""
        waiting = []
        for call in self.ended:
            due = now is None or (not cdr_only and
                now >= call.end_time + self.cdr_grace)
            if call.cdr is not None or due:
                self._emit_call(call)
            else:
                waiting.append(call)
        self.ended = waiting

    def _emit_call(self, call):
        self.calls.pop(call.linkedid, None)
        for leg in call.legs:
            # Only when events were lost: the leg's own end never came.
            leg.close(call.end_time,
                'answered' if leg.answer_time else 'ring_no_answer')
        if call.queues or call.legs or call.direction == 'inbound':
            self.on_fact('call', call.as_fact())
        # Other calls (a supervisor's ChanSpy leg, a feature code) never
        # reached anyone: they are not calls of the contact center.

    # -- queue --------------------------------------------------------------

    def _on_QueueCallerJoin(self, event, when):
        call = self.channel_call.get(event['Uniqueid'])
        if call is not None:
            call.queues.append(event['Queue'])
            call.join_time = call.join_time or when
            call.leave_time = None

    def _on_QueueCallerLeave(self, event, when):
        call = self.channel_call.get(event['Uniqueid'])
        if call is not None and call.leave_time is None:
            call.leave_time = when

    def _on_QueueCallerAbandon(self, event, when):
        call = self.channel_call.get(event['Uniqueid'])
        if call is not None:
            call.abandon_position = int(event['Position'])
            call.leave_time = when

    def _on_AgentCalled(self, event, when):
        call = self.channel_call.get(event['Uniqueid'])
        if call is None:
            return
        leg = Leg(event['Interface'], event['Queue'], when)
        destination = event.get('DestUniqueid')
        if destination:
            self._drop_dial_leg(call, destination)
            leg.channels.add(destination)
            self._own(call, destination)
        call.legs.append(leg)
        agent = self._agent(event['Interface'])
        agent.leg = leg
        self._set_state(agent, 'ringing', when, queue=leg.queue)

    def leg_of_channel(self, uniqueid):
        "(call, leg) of a channel followed; either may be None."
        call = self.channel_call.get(uniqueid)
        return call, self._leg_of(call, uniqueid) if call else None

    def queue_leg(self, event):
        """The active leg of this member on this caller, if any: the leg an
        AgentConnect (or another member event) is about."""
        call = self.channel_call.get(event.get('Uniqueid'))
        for leg in call.legs if call else []:
            if leg.interface == event.get('Interface') and leg.active:
                return leg
        return None

    def _on_AgentConnect(self, event, when):
        leg = self.queue_leg(event)
        if leg is not None:
            leg.answer_time = when
            self._set_state(self._agent(leg.interface), 'talking', when,
                queue=leg.queue)

    def _on_AgentRingNoAnswer(self, event, when):
        leg = self.queue_leg(event)
        if leg is not None:
            self._end_leg(leg, when, 'ring_no_answer')

    _on_AgentDump = _on_AgentRingNoAnswer

    def _on_AgentComplete(self, event, when):
        leg = self.queue_leg(event)
        if leg is not None:
            self._end_leg(leg, when, 'completed')

    def _end_leg(self, leg, when, how):
        """End a leg; ``how`` is a leg result, or 'hangup' or 'unseen' (the
        end happened while AMI was down: no wrap-up is made up for it)."""
        if how in ('hangup', 'completed', 'unseen'):
            answered = 'answered' if how == 'unseen' else 'completed'
            how = answered if leg.answer_time else 'ring_no_answer'
        if not leg.close(when, how):
            return
        agent = self.agents.get(leg.interface)
        if agent is None or agent.leg is not leg:
            return
        agent.leg = None
        if leg.answer_time and how != 'answered':
            self._start_wrapup(agent, when, leg.queue)
        else:
            self._to_idle(agent, when)

    # -- bridges, hold, transfers -------------------------------------------

    def _on_BridgeEnter(self, event, when):
        uniqueid, bridge = event['Uniqueid'], event['BridgeUniqueid']
        self._name(uniqueid, event['Channel'])
        peers = set(self.bridges[bridge])
        self._unbridge(uniqueid)
        self.bridges[bridge].add(uniqueid)
        self.channel_bridge[uniqueid] = bridge
        call = self.channel_call.get(uniqueid) or self._call_of(peers)
        if call is None:
            return
        if uniqueid not in call.live:
            self._own(call, uniqueid)
        if is_local(event['Channel']) or uniqueid == call.uniqueid:
            return
        leg = self._leg_of(call, uniqueid)
        if leg is None:
            leg = self._leg_behind_locals(call, peers)
            if leg is not None:
                leg.channels.add(uniqueid)
            else:
                self._direct_leg(call, uniqueid, event['Channel'], when)
        elif not leg.from_queue and leg.active:
            # Dialled without a DialEnd seen: in the bridge, it answered.
            self._answer_direct(leg, when)

    def _call_of(self, uniqueids):
        for uniqueid in uniqueids:
            if uniqueid in self.channel_call:
                return self.channel_call[uniqueid]
        return None

    def _leg_of(self, call, uniqueid):
        for leg in call.legs:
            if uniqueid in leg.channels:
                return leg
        return None

    def _leg_behind_locals(self, call, peers):
        """The active leg a Local channel in ``peers`` leads to.

        A Local-channel member ``Local/1001@agents`` is dialled as ``;1``;
        its ``;2`` half dials the phone and shares a bridge with it, so the
        phone's channel belongs to the leg of ``;1``.
        """
        for peer in peers:
            name = self.channel_names.get(peer, '')
            if not is_local(name):
                continue
            partner = self.name_uniqueid.get(local_partner(name))
            for uniqueid in (peer, partner):
                leg = self._leg_of(call, uniqueid)
                if leg is not None and leg.active:
                    leg.channels.add(peer)
                    return leg
        return None

    def _direct_leg(self, call, uniqueid, name, when, answered=True):
        """A party reached without the queue: transfer target, the party
        consulted, or a plain dial. Dialled (DialBegin), it rings until
        DialEnd or the bridge; met first in a bridge (no dial seen), it
        rang from its channel's creation and answers now. Either way an
        agent on that phone rings, then talks."""
        interface = self._interface_of(name)
        ring_start = self.channel_born.get(uniqueid, when)
        leg = Leg(interface, call.queues[-1] if call.queues else None,
            ring_start, {uniqueid}, from_queue=False)
        call.legs.append(leg)
        agent = self.agents.get(interface)
        if agent is not None and agent.leg is None:
            agent.leg = leg
            self._set_state(agent, 'ringing', ring_start, queue=leg.queue)
        if answered:
            self._answer_direct(leg, when)

    def _interface_of(self, channel_name):
        "The member interface of the phone a channel is on."
        device = device_of(channel_name)
        return self.devices.get(device, device)

    def _drop_dial_leg(self, call, uniqueid):
        """app_queue's own DialBegin may come before its AgentCalled: the
        queue leg, not a dialled one, owns the member's channel."""
        leg = self._leg_of(call, uniqueid)
        if leg is None or leg.from_queue or leg.answer_time:
            return
        call.legs.remove(leg)
        agent = self.agents.get(leg.interface)
        if agent is not None and agent.leg is leg:
            agent.leg = None

    def _on_DialBegin(self, event, when):
        """A phone dialled outside the queue (a transfer target, the party
        consulted, a plain call) starts ringing: its leg, and its agent's
        ringing, start here. Behind a Local-channel member the ;2 half dials
        the agent's phone: that phone belongs to the queue leg."""
        destination, name = event['DestUniqueid'], event['DestChannel']
        self._name(destination, name)
        call = self.channel_call.get(destination) or self.channel_call.get(
            event.get('Uniqueid'))
        if (call is None or is_local(name) or destination == call.uniqueid
                or self._leg_of(call, destination) is not None):
            return
        if destination not in call.live:
            self._own(call, destination)
        source = event.get('Uniqueid')
        leg = self._leg_behind_locals(call, {source} if source else set())
        if leg is not None and leg.answer_time is None:
            leg.channels.add(destination)
        else:
            # An answered member's ;2 half dialling: the caller it carries
            # is being transferred (its BlindTransfer may come after).
            self._direct_leg(call, destination, name, when, answered=False)

    def _on_DialEnd(self, event, when):
        """The dialled phone answered (ANSWER) or the dial failed (NOANSWER,
        BUSY, CANCEL...); app_queue's own dials are left to its events."""
        call = self.channel_call.get(event.get('DestUniqueid'))
        leg = self._leg_of(call, event['DestUniqueid']) if call else None
        if leg is None or leg.from_queue or not leg.active:
            return
        if event.get('DialStatus') == 'ANSWER':
            self._answer_direct(leg, when)
        elif not leg.answer_time:
            self._end_leg(leg, when, 'ring_no_answer')

    def _answer_direct(self, leg, when):
        if leg.answer_time is None:
            leg.answer_time = when
            self._agent_of_leg(leg, 'talking', when)

    def _on_BridgeLeave(self, event, when):
        self._unbridge(event['Uniqueid'])

    def _held_legs(self, event):
        """The legs a Hold or Unhold of this channel is about: the leg of
        the channel, or the one talking to the call's first channel. When
        that channel is the agent's phone that placed the call (click-to-
        dial, a callback), the agent's own leg too, which is not among the
        call's legs: the agent holds, the call's figures count the hold."""
        uniqueid = event['Uniqueid']
        call = self.channel_call.get(uniqueid)
        if call is None:
            return []
        if uniqueid != call.uniqueid:
            legs = [self._leg_of(call, uniqueid)]
        else:
            legs = [call.talking_leg(), self._placing_leg(call, uniqueid)]
        return [leg for leg in legs if leg is not None and leg.active]

    def _on_Hold(self, event, when):
        for leg in self._held_legs(event):
            if leg.hold_start is None:
                leg.hold_start = when
                self._agent_of_leg(leg, 'hold', when)

    def _on_Unhold(self, event, when):
        for leg in self._held_legs(event):
            if leg.hold_start is not None:
                leg.hold_seconds += seconds(leg.hold_start, when)
                leg.hold_start = None
                self._agent_of_leg(leg, 'talking', when)

    def _agent_of_leg(self, leg, state, when):
        agent = self.agents.get(leg.interface)
        if agent is not None and agent.leg is leg:
            self._set_state(agent, state, when, queue=leg.queue)

    def _on_BlindTransfer(self, event, when):
        self._transfer(event, 'TransfererUniqueid', when, 'transferred_blind',
            event.get('Extension'))

    def _on_AttendedTransfer(self, event, when):
        self._transfer(event, 'OrigTransfererUniqueid', when,
            'transferred_attended', None)

    def _transfer(self, event, transferer_key, when, result, target):
        if event.get('Result', 'Success') != 'Success':
            return
        transferer = event.get(transferer_key)
        call = self.channel_call.get(transferer)
        leg = self._leg_of(call, transferer) if call else None
        if leg is None or not leg.active:
            return
        leg.transfer_target = target or self._consulted(call, leg, event)
        agent = self.agents.get(leg.interface)
        if agent is not None and agent.leg is leg:
            agent.transferred_call = call.uniqueid
        self._end_leg(leg, when, result)

    def _consulted(self, call, transferer_leg, event):
        """Whom an attended transfer went to: the party the agent consulted,
        which holds the latest answered leg besides the agent's own."""
        for leg in reversed(call.legs):
            if leg is not transferer_leg and leg.answer_time and leg.active:
                return leg.interface
        target = event.get('TransferTargetChannel')
        return device_of(target) if target else None

    # -- agents -------------------------------------------------------------

    def _agent(self, interface):
        if interface not in self.agents:
            self.agents[interface] = Agent(interface)
        return self.agents[interface]

    def _member_update(self, event):
        """Record what a QueueMember* event says of the member: membership,
        pause in this queue, Asterisk's wrap-up, phone device."""
        agent = self._agent(event['Interface'])
        agent.memberships.add(event['Queue'])
        agent.set_pause(event['Queue'], event.get('Paused') == '1',
            event.get('PausedReason') or None)
        agent.pbx_wrapup = int(event.get('Wrapuptime') or 0)
        if event.get('StateInterface'):
            self.devices[event['StateInterface']] = agent.interface
        return agent

    def _on_QueueMemberAdded(self, event, when):
        agent = self._member_update(event)
        if agent.state in IDLE_STATES:
            self._to_idle(agent, when)

    def _on_QueueMemberRemoved(self, event, when):
        agent = self._agent(event['Interface'])
        agent.memberships.discard(event['Queue'])
        agent.pauses.pop(event['Queue'], None)
        if agent.state in IDLE_STATES or agent.state == 'wrap_up':
            self._to_idle(agent, when)

    def _on_QueueMemberPause(self, event, when):
        agent = self._member_update(event)
        # An explicit pause or unpause also ends after-call work early.
        if agent.state in IDLE_STATES or agent.state == 'wrap_up':
            self._to_idle(agent, when)

    def _on_QueueMemberStatus(self, event, when):
        agent = self._member_update(event)
        if agent.state in IDLE_STATES:
            self._to_idle(agent, when)

    def _start_wrapup(self, agent, when, queue):
        wrapup = self.wrapup_seconds(agent.interface)
        wrapup = agent.pbx_wrapup if wrapup is None else wrapup
        if wrapup <= 0:
            self._to_idle(agent, when)
            return
        agent.wrap_until = when + dt.timedelta(seconds=wrapup)
        heapq.heappush(self._wrapups,
            (agent.wrap_until, next(self._order), agent.interface))
        self._set_state(agent, 'wrap_up', when, queue=queue)

    def _to_idle(self, agent, when):
        agent.wrap_until = None
        if not agent.memberships:
            self._set_state(agent, 'logged_out', when)
        elif agent.paused:
            self._set_state(agent, 'not_ready', when, agent.pause_reason)
        else:
            self._set_state(agent, 'ready', when)

    def _set_state(self, agent, state, when, reason=None, queue=None):
        "Close the current interval and open the next, if anything changed."
        if (agent.state, agent.reason, agent.queue) == (state, reason, queue):
            return
        if agent.start is None or when > agent.start:
            if agent.start is not None:
                self._emit_interval(agent, when)
            agent.start = when
        # A change at the very instant the interval began replaces it:
        # zero-length intervals carry nothing.
        agent.state, agent.reason, agent.queue = state, reason, queue

    def _emit_interval(self, agent, end):
        self.on_fact('interval', {
            'key': f'{agent.interface}@{agent.start.isoformat()}',
            'interface': agent.interface,
            'state': agent.state,
            'reason': agent.reason,
            'queue': agent.queue,
            'start': agent.start,
            'end': end,
            })

    def _resync_agent(self, agent, member_events, now):
        agent.memberships = {event['Queue'] for event in member_events}
        agent.pauses = {}
        for event in member_events:
            agent.set_pause(event['Queue'], event.get('Paused') == '1',
                event.get('PausedReason') or None)
        if agent.leg is not None and agent.leg.active:
            return
        agent.leg = None
        statuses = {event.get('Status') for event in member_events}
        in_call = any(event.get('InCall') == '1' for event in member_events)
        queue = member_events[0]['Queue'] if member_events else None
        if statuses & set(RINGING_STATUSES):
            self._set_state(agent, 'ringing', now, queue=queue)
        elif in_call or statuses & set(BUSY_STATUSES):
            self._set_state(agent, 'talking', now, queue=queue)
        elif agent.state != 'wrap_up':
            self._to_idle(agent, now)

    def cut(self):
        """The event stream broke off (AMI cut, bridge stopped): note the
        last moment the PBX was heard from and the channels followed then.
        Whatever ends before the next resync ends unseen."""
        self.alive_until = self.heard
        self.cut_channels = set(self.channel_call)

    def reap(self, live_channels):
        """End the channels followed at the cut that are not among
        ``live_channels``: they hung up unseen, at some moment between the
        last event heard before the cut and now. They end at the first, the
        last moment they were known up: an unseen end never adds the
        length of the cut (hours after a long stop) to talk times. Their
        legs keep the result ``answered``, which says the end is estimated.
        Channels met since the cut had their hang-up seen."""
        followed = self._followed_at_cut()
        for uniqueid in followed - set(live_channels):
            logger.warning('channel %s hung up while AMI was down',
                uniqueid)
            self._end_unseen(uniqueid)
        self.alive_until = self.cut_channels = None

    def pbx_restarted(self, started):
        """Whether the PBX started (CoreStatus: CoreStartupDate and
        CoreStartupTime) since the start remembered; remember ``started``.

        Compared as the PBX reports it, in its local time: no time zone to
        know. The PBX cannot restart without cutting AMI, and every resync
        asks, so a start other than the remembered one came during the cut,
        after the last event heard."""
        if started is None or started.startswith(('1969', '1970')):
            # Asterisk early in its start-up reports the epoch: unknown.
            return False
        known, self.pbx_started = self.pbx_started, started
        return known is not None and known != started

    def end_all_unseen(self):
        """The PBX restarted during the cut: every channel followed at the
        cut died with the old process, at the last moment it was heard
        from. A channel of the new process with the same Uniqueid is
        another channel: they are not matched."""
        followed = self._followed_at_cut()
        logger.warning('PBX restarted while AMI was down: %d channels '
            'ended', len(followed))
        for uniqueid in followed:
            self._end_unseen(uniqueid)
        self.alive_until = self.cut_channels = None

    def _followed_at_cut(self):
        if self.cut_channels is None:
            self.cut()
        return self.cut_channels & set(self.channel_call)

    def _end_unseen(self, uniqueid):
        self._hang_up(uniqueid, self.alive_until or self.now, None,
            seen=False)

    def _resync_entry(self, event, now):
        "A caller that joined a queue while we were not listening."
        uniqueid = event['Uniqueid']
        if uniqueid in self.channel_call:
            return
        join = now - dt.timedelta(seconds=int(event.get('Wait') or 0))
        call = Call(uniqueid, uniqueid, 'inbound',
            event.get('CallerIDNum', ''), '', join)
        call.queues.append(event['Queue'])
        call.join_time = join
        self.calls[uniqueid] = call
        self._name(uniqueid, event.get('Channel', ''))
        self._own(call, uniqueid)

    def _remember(self, key):
        self._seen[key] = None
        if len(self._seen) > SEEN_KEYS_KEPT:
            self._seen.popitem(last=False)
