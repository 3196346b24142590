"""Tests of the event tracker, fed in-process by the PBX simulator."""
import asyncio
import datetime as dt

from ..pbxsim import scenario
from ..tracker import Tracker

START = dt.datetime(2026, 1, 5, 1, 0)
ALICE, BOB = 'PJSIP/1001', 'Local/1002@agents/n'


def at(seconds):
    return START + dt.timedelta(seconds=seconds)


class Recorder:
    def __init__(self):
        self.calls, self.intervals = [], []

    def __call__(self, kind, data):
        (self.calls if kind == 'call' else self.intervals).append(data)

    def states(self, interface):
        return [(i['state'], i['reason'], i['queue'],
            (i['start'] - START).total_seconds(),
            (i['end'] - START).total_seconds())
            for i in self.intervals if i['interface'] == interface]


def login(agent, when=0, queue='sales', **extra):
    return {'at': when, 'do': 'login', 'queue': queue, 'agent': agent, **extra}


def call(when, **plan):
    return {'at': when, 'do': 'call', 'queue': 'sales', **plan}


def simulate(steps, queues=None, until=600, wrapup=10, feed=None):
    """Run a script; return the simulator's events and the recorded facts."""
    sim = scenario.build({'queues': queues or [{'name': 'sales',
        'strategy': 'linear', 'timeout': 15, 'retry': 2}], 'script': steps})
    events, recorder = [], Recorder()
    tracker = Tracker(recorder, wrapup_seconds=lambda interface: wrapup)
    sim.listeners.append(events.append)
    sim.listeners.append(feed or tracker.feed)
    asyncio.run(sim.advance(until))
    tracker.tick(sim.now)
    return events, recorder, tracker


def test_duplicates_change_nothing():
    steps = [login(ALICE), login(BOB, state_interface='PJSIP/1002'),
        call(10, talk=30, holds=[{'at': 5, 'duration': 5}]),
        call(12, talk=40, transfer={'kind': 'blind', 'at': 10,
            'target': '2000', 'after': 20})]
    events, once, _ = simulate(steps)
    twice, tracker = Recorder(), None
    tracker = Tracker(twice, wrapup_seconds=lambda interface: 10)
    applied = [tracker.feed(event) for event in events]
    replayed = [tracker.feed(event) for event in events]
    for event in events:
        tracker.feed(dict(event))
    tracker.tick(at(600))
    assert all(applied) and not any(replayed)
    assert len(once.calls) == 2
    assert twice.calls == once.calls
    assert twice.intervals == once.intervals


def test_ringall_cancelled_members_get_ring_no_answer_legs():
    steps = [login(ALICE), login('PJSIP/1003'),
        call(10, talk=30, answer_delay={'PJSIP/1003': 5})]
    _, facts, _ = simulate(steps, queues=[{'name': 'sales',
        'strategy': 'ringall', 'timeout': 15}])
    (fact,) = facts.calls
    assert [(leg['agent_interface'], leg['result'], leg['ring_seconds'],
        leg['talk_seconds']) for leg in fact['legs']] == [
        (ALICE, 'completed', 3.0, 30.0),
        ('PJSIP/1003', 'ring_no_answer', 3.0, 0.0)]
    assert facts.states('PJSIP/1003') == [
        ('ready', None, None, 0, 10), ('ringing', None, 'sales', 10, 13)]


def test_wrapup_runs_out_or_ends_on_ready_or_pause():
    steps = [login(ALICE), login('PJSIP/1003'),
        call(10, talk=20), call(100, talk=20, no_answer=[ALICE]),
        {'at': 150, 'do': 'pause', 'agent': 'PJSIP/1003',
            'reason': 'after-call'},
        {'at': 155, 'do': 'unpause', 'agent': 'PJSIP/1003'}]
    _, facts, tracker = simulate(steps, wrapup=30, until=300)
    assert facts.states(ALICE) == [
        ('ready', None, None, 0, 10), ('ringing', None, 'sales', 10, 13),
        ('talking', None, 'sales', 13, 33),
        ('wrap_up', None, 'sales', 33, 63),
        ('ready', None, None, 63, 100), ('ringing', None, 'sales', 100, 115)]
    assert facts.states('PJSIP/1003') == [
        ('ready', None, None, 0, 117), ('ringing', None, 'sales', 117, 120),
        ('talking', None, 'sales', 120, 140),
        ('wrap_up', None, 'sales', 140, 150),
        ('not_ready', 'after-call', None, 150, 155)]
    assert tracker.agents['PJSIP/1003'].state == 'ready'


def test_pause_in_some_queues_keeps_the_agent_ready():
    member = {'Event': 'QueueMemberPause', 'Interface': ALICE,
        'Paused': '1'}
    events = [
        {'Event': 'QueueMemberAdded', 'Queue': 'sales', 'Paused': '0'},
        {'Event': 'QueueMemberAdded', 'Queue': 'vip', 'Paused': '0'},
        {**member, 'Queue': 'sales', 'PausedReason': 'training'},
        {**member, 'Queue': 'vip', 'PausedReason': 'meal'},
        # Device state reports repeat each queue's own pause.
        {**member, 'Event': 'QueueMemberStatus', 'Queue': 'sales',
            'PausedReason': 'training'},
        {**member, 'Queue': 'sales', 'Paused': '0'},
        {'Event': 'QueueMemberRemoved', 'Queue': 'sales'},
        ]
    recorder = Recorder()
    tracker = Tracker(recorder)
    for second, event in enumerate(events):
        tracker.feed({'Interface': ALICE, 'Timestamp': str(
            at(second * 10).replace(tzinfo=dt.timezone.utc).timestamp()),
            **event})
    # Unpaused in sales at 50: ready again until sales is left at 60.
    assert recorder.states(ALICE) == [('ready', None, None, 0, 30),
        ('not_ready', 'meal', None, 30, 50), ('ready', None, None, 50, 60)]
    assert (tracker.agents[ALICE].state, tracker.agents[ALICE].reason) == (
        'not_ready', 'meal')


def test_queue_timeout_overflow_and_voicemail_results():
    queues = [{'name': 'sales', 'strategy': 'linear', 'max_wait': 20,
            'overflow': 'vip'},
        {'name': 'vip', 'strategy': 'linear', 'max_wait': 15,
            'overflow': 'voicemail'},
        {'name': 'night', 'strategy': 'linear', 'max_wait': 15}]
    steps = [call(10, caller='1'), call(20, caller='2', queue='night'),
        login('PJSIP/1003', 31, queue='vip'), call(40, caller='3', talk=5)]
    events, facts, _ = simulate(steps, queues=queues, until=200)
    by_caller = {fact['caller_raw']: fact for fact in facts.calls}
    assert [(by_caller[c]['result'], by_caller[c]['queue'],
        by_caller[c]['wait_seconds']) for c in '123'] == [
        ('answered', 'vip', 24.0), ('timeout', 'night', 15.0),
        ('voicemail', 'vip', 35.0)]
    # As app_queue lets a caller go when the wait is over: record_abandoned
    # (QueueCallerAbandon) first; only Queue()'s QUEUESTATUS tells it apart
    # from a caller who hung up.
    assert [(e['Event'], e.get('Value')) for e in events
        if e.get('CallerIDNum') == '2' and e['Event'] in (
            'QueueCallerAbandon', 'QueueCallerLeave', 'VarSet')] == [
        ('QueueCallerAbandon', None), ('QueueCallerLeave', None),
        ('VarSet', 'TIMEOUT')]
    assert by_caller['2']['abandon_position'] is None


def test_supervisor_spy_leg_is_not_a_call():
    async def run():
        sim = scenario.build({'queues': [{'name': 'sales'}]})
        recorder = Recorder()
        tracker = Tracker(recorder)
        sim.listeners.append(tracker.feed)
        spy = sim.originate('PJSIP/9000', application='ChanSpy')
        await sim.advance(30)
        sim.hangup_channel(spy.name)
        tracker.flush()
        return recorder
    assert asyncio.run(run()).calls == []


def test_incomplete_events_are_logged_and_skipped(caplog):
    recorder = Recorder()
    tracker = Tracker(recorder)
    with caplog.at_level('WARNING'):
        assert not tracker.feed({'Event': 'Hangup', 'Uniqueid': '1'})
        assert tracker.feed({'Event': 'Newchannel', 'Timestamp': '1'})
        assert tracker.feed({'Event': 'QueueCallerAbandon',
            'Timestamp': 'x', 'Position': 'two', 'Uniqueid': '1'})
    assert 'without Timestamp' in caplog.text
    assert "usable 'Uniqueid'" in caplog.text
    assert recorder.calls == recorder.intervals == []


def test_call_waits_for_cdr_or_grace():
    recorder = Recorder()
    tracker = Tracker(recorder, cdr_grace=5)
    channel = {'Channel': 'PJSIP/trunk-00000001', 'Uniqueid': '1.1',
        'Linkedid': '1.1', 'Context': 'from-pstn', 'Exten': '95588',
        'CallerIDNum': '02100000000'}
    tracker.feed({'Event': 'Newchannel', 'Timestamp': '100', **channel})
    tracker.feed({'Event': 'Hangup', 'Timestamp': '104', 'Cause': '21',
        **channel})
    tracker.tick(dt.datetime.fromtimestamp(108, dt.timezone.utc)
        .replace(tzinfo=None))
    assert recorder.calls == []
    tracker.feed({'Event': 'Cdr', 'Timestamp': '105', 'UniqueID': '1.1',
        'LastApplication': 'Hangup', 'UserField': '/rec/1.1.wav'})
    (fact,) = recorder.calls
    assert (fact['result'], fact['recording'], fact['direction']) == (
        'rejected', '/rec/1.1.wav', 'inbound')
    second = {**channel, 'Uniqueid': '2.2', 'Linkedid': '2.2'}
    tracker.feed({'Event': 'Newchannel', 'Timestamp': '200', **second})
    tracker.feed({'Event': 'Hangup', 'Timestamp': '201', **second})
    tracker.tick(dt.datetime.fromtimestamp(205.5, dt.timezone.utc)
        .replace(tzinfo=None))
    assert len(recorder.calls) == 1
    tracker.feed({'Event': 'Ping', 'Timestamp': '206'})
    assert [(c['uniqueid'], c['result'], c['recording'])
        for c in recorder.calls] == [('1.1', 'rejected', '/rec/1.1.wav'),
        ('2.2', 'no_answer', None)]


def test_resync_rebuilds_agent_state():
    recorder = Recorder()
    tracker = Tracker(recorder)
    tracker.feed({'Event': 'QueueMemberAdded', 'Timestamp': '0',
        'Queue': 'sales', 'Interface': 'PJSIP/1009', 'Paused': '0'})
    now = dt.datetime.fromtimestamp(60, dt.timezone.utc).replace(tzinfo=None)
    member = {'Event': 'QueueMember', 'Queue': 'sales', 'Status': '1',
        'Paused': '0', 'PausedReason': '', 'InCall': '0'}
    tracker.resync([
        {**member, 'Location': 'PJSIP/1001', 'Paused': '1',
            'PausedReason': 'meal'},
        {**member, 'Location': 'PJSIP/1002', 'InCall': '1', 'Status': '2'},
        {**member, 'Location': 'PJSIP/1003'},
        {'Event': 'QueueEntry', 'Queue': 'sales', 'Uniqueid': '5.5',
            'Channel': 'PJSIP/trunk-00000009', 'CallerIDNum': '139',
            'Wait': '12'}], now)
    states = {name: (agent.state, agent.reason)
        for name, agent in tracker.agents.items()}
    assert states == {'PJSIP/1009': ('logged_out', None),
        'PJSIP/1001': ('not_ready', 'meal'), 'PJSIP/1002': ('talking', None),
        'PJSIP/1003': ('ready', None)}
    assert [(i['interface'], i['state']) for i in recorder.intervals] == [
        ('PJSIP/1009', 'ready')]
    tracker.feed({'Event': 'QueueCallerAbandon', 'Timestamp': '70',
        'Uniqueid': '5.5', 'Queue': 'sales', 'Position': '1'})
    tracker.feed({'Event': 'Hangup', 'Timestamp': '70', 'Uniqueid': '5.5',
        'Channel': 'PJSIP/trunk-00000009'})
    tracker.flush()
    (fact,) = recorder.calls
    assert (fact['result'], fact['abandon_position'], fact['wait_seconds']
        ) == ('abandoned', 1, 22.0)


# -- transfers from one agent to another ---------------------------------

CAROL = 'PJSIP/1003'
TWO_QUEUES = [{'name': 'sales', 'strategy': 'linear', 'timeout': 15,
        'retry': 2},
    {'name': 'support', 'strategy': 'linear', 'timeout': 15, 'retry': 2}]


def legs_of(fact):
    return [(leg['agent_interface'], leg['ring_seconds'],
        leg['talk_seconds'], leg['result'], leg['transfer_target'],
        (leg['ring_start'] - START).total_seconds(),
        (leg['end_time'] - START).total_seconds()) for leg in fact['legs']]


def agent_to_agent(transfer, feed_filter=None):
    "Alice (sales) answers at 13 and transfers to Carol (support only)."
    steps = [login(ALICE), login(CAROL, queue='support'),
        call(10, talk=60, transfer=transfer)]
    if feed_filter is None:
        return simulate(steps, queues=TWO_QUEUES, until=300)
    recorder = Recorder()
    tracker = Tracker(recorder, wrapup_seconds=lambda interface: 10)

    def feed(event):
        if feed_filter(event):
            tracker.feed(event)
    events, _, _ = simulate(steps, queues=TWO_QUEUES, until=300, feed=feed)
    tracker.tick(at(300))
    return events, recorder, tracker


def test_blind_transfer_to_an_agents_extension():
    events, facts, _ = agent_to_agent({'kind': 'blind', 'at': 20,
        'target': '1003', 'ring': 4, 'after': 30})
    (fact,) = facts.calls
    assert fact['result'] == 'transferred'
    assert legs_of(fact) == [
        (ALICE, 3.0, 20.0, 'transferred_blind', '1003', 10, 33),
        (CAROL, 4.0, 30.0, 'completed', None, 33, 67)]
    assert facts.states(ALICE) == [
        ('ready', None, None, 0, 10), ('ringing', None, 'sales', 10, 13),
        ('talking', None, 'sales', 13, 33),
        ('wrap_up', None, 'sales', 33, 43)]
    # Carol's phone rings 4 s before she talks; then her own wrap-up.
    assert facts.states(CAROL) == [
        ('ready', None, None, 0, 33), ('ringing', None, 'sales', 33, 37),
        ('talking', None, 'sales', 37, 67),
        ('wrap_up', None, 'sales', 67, 77)]
    # The simulator dials her phone as app_dial does.
    dial = [(e['Event'], e.get('ChannelState'), e.get('DialStatus'))
        for e in events if e.get('Channel', e.get('DestChannel', ''))
        .startswith(CAROL) or e.get('DestChannel', '').startswith(CAROL)]
    assert dial[:5] == [('Newchannel', '0', None), ('DialBegin', '6', None),
        ('Newstate', '5', None), ('Newstate', '6', None),
        ('DialEnd', '6', 'ANSWER')]


def test_attended_transfer_to_an_agents_extension():
    _, facts, _ = agent_to_agent({'kind': 'attended', 'at': 15,
        'target': '1003', 'ring': 3, 'consult': 10, 'after': 30})
    (fact,) = facts.calls
    # Carol rings from 28, talks (consult, then the caller) from 31.
    assert legs_of(fact) == [
        (ALICE, 3.0, 28.0, 'transferred_attended', CAROL, 10, 41),
        (CAROL, 3.0, 40.0, 'completed', None, 28, 71)]
    assert facts.states(ALICE)[-2:] == [
        ('talking', None, 'sales', 13, 41),
        ('wrap_up', None, 'sales', 41, 51)]
    assert facts.states(CAROL) == [
        ('ready', None, None, 0, 28), ('ringing', None, 'sales', 28, 31),
        ('talking', None, 'sales', 31, 71),
        ('wrap_up', None, 'sales', 71, 81)]


def test_blind_transfer_through_a_queue_to_another_agent():
    _, facts, _ = agent_to_agent({'kind': 'blind', 'at': 20,
        'target': 'support', 'after': 30})
    (fact,) = facts.calls
    assert (fact['result'], fact['queue'], fact['wait_seconds']) == (
        'transferred', 'support', 3.0)
    assert legs_of(fact) == [
        (ALICE, 3.0, 20.0, 'transferred_blind', 'support', 10, 33),
        (CAROL, 3.0, 30.0, 'completed', None, 33, 66)]
    assert facts.states(CAROL) == [
        ('ready', None, None, 0, 33), ('ringing', None, 'support', 33, 36),
        ('talking', None, 'support', 36, 66),
        ('wrap_up', None, 'support', 66, 76)]


def test_transfer_target_rings_even_without_dial_events():
    "Seen only at the bridge, the target rang from its channel's creation."
    _, facts, _ = agent_to_agent({'kind': 'blind', 'at': 20,
        'target': '1003', 'ring': 4, 'after': 30},
        feed_filter=lambda event: not event['Event'].startswith('Dial'))
    (fact,) = facts.calls
    assert legs_of(fact)[1] == (CAROL, 4.0, 30.0, 'completed', None, 33, 67)
    assert facts.states(CAROL)[:3] == [
        ('ready', None, None, 0, 33), ('ringing', None, 'sales', 33, 37),
        ('talking', None, 'sales', 37, 67)]


def test_dial_from_a_local_member_belongs_to_its_queue_leg():
    """Asterisk: the ;2 half of a Local member Dial()s the phone, and
    app_queue may send DialBegin before AgentCalled: neither makes a leg
    of its own."""
    bob_phone = 'PJSIP/1002'

    def with_dials(events):
        out = []
        for event in events:
            name = event.get('Channel', '')
            if event['Event'] == 'Newchannel' and name.startswith(bob_phone):
                two = next(e for e in reversed(out)
                    if e.get('Channel', '').endswith(';2'))
                out.append(event)
                out.append({**{k: v for k, v in two.items()
                        if k not in ('Event',)}, 'Event': 'DialBegin',
                    **{'Dest' + k: event[k] for k in ('Channel', 'Uniqueid',
                        'Linkedid')}})
                continue
            if event['Event'] == 'AgentCalled':
                out.append({'Event': 'DialBegin',
                    'Timestamp': event['Timestamp'],
                    'Channel': event['Channel'],
                    'Uniqueid': event['Uniqueid'],
                    'DestChannel': event['DestChannel'],
                    'DestUniqueid': event['DestUniqueid'],
                    'DestLinkedid': event['DestLinkedid']})
            out.append(event)
        return out
    steps = [login(BOB, state_interface=bob_phone), login(ALICE),
        call(10, talk=30), call(100, talk=30, no_answer=[BOB])]
    events, plain, _ = simulate(steps)
    recorder = Recorder()
    tracker = Tracker(recorder, wrapup_seconds=lambda interface: 10)
    dialled = with_dials(events)
    assert len(dialled) == len(events) + 5
    for event in dialled:
        tracker.feed(event)
    tracker.tick(at(600))
    first, second = recorder.calls
    assert legs_of(first) == [(BOB, 3.0, 30.0, 'completed', None, 10, 43)]
    assert legs_of(second) == [
        (BOB, 15.0, 0.0, 'ring_no_answer', None, 100, 115),
        (ALICE, 3.0, 30.0, 'completed', None, 117, 150)]
    assert recorder.calls == plain.calls
    assert recorder.intervals == plain.intervals


def test_attended_transfer_through_a_queue_to_another_agent():
    "Atxfer to the support queue's extension: Carol answers the consult."
    events, facts, _ = agent_to_agent({'kind': 'attended', 'at': 15,
        'target': 'support', 'consult': 10, 'after': 30})
    (fact,) = facts.calls
    assert (fact['result'], fact['queue'], fact['wait_seconds']) == (
        'transferred', 'support', 3.0)
    assert legs_of(fact) == [
        (ALICE, 3.0, 28.0, 'transferred_attended', CAROL, 10, 41),
        (CAROL, 3.0, 40.0, 'completed', None, 28, 71)]
    assert facts.states(CAROL) == [
        ('ready', None, None, 0, 28), ('ringing', None, 'support', 28, 31),
        ('talking', None, 'support', 31, 71),
        ('wrap_up', None, 'support', 71, 81)]
    # The Local channel's ;2 half is the one app_queue sees as its caller.
    (join,) = [e for e in events if e['Event'] == 'QueueCallerJoin'
        and e['Queue'] == 'support']
    assert join['Channel'].startswith('Local/support@from-internal-')
    assert join['Channel'].endswith(';2')


def test_blind_transfer_from_a_local_member_dialled_before_its_event():
    """Bob (a Local-channel member) transfers to Alice's extension; his ;2
    half dials her phone, and Asterisk may send that DialBegin before the
    BlindTransfer: her phone is a leg of its own, not Bob's."""
    steps = [login(BOB, state_interface='PJSIP/1002'),
        call(10, talk=60, transfer={'kind': 'blind', 'at': 20,
            'target': '1001', 'ring': 4, 'after': 30}),
        login(ALICE, 100)]
    events, plain, _ = simulate(steps, until=300)
    # Alice's phone is created and dialled before the BlindTransfer (and
    # before Bob's phone hangs up).
    dial = next(e for e in events if e['Event'] == 'DialBegin')
    phone = next(e for e in events if e['Event'] == 'Newchannel'
        and e['Uniqueid'] == dial['DestUniqueid'])
    for event in (phone, dial):
        events.remove(event)
        events.insert(events.index(next(e for e in events
            if e['Event'] == 'BlindTransfer')), event)
    recorder = Recorder()
    tracker = Tracker(recorder, wrapup_seconds=lambda interface: 10)
    for event in events:
        tracker.feed(event)
    tracker.tick(at(300))
    (fact,) = recorder.calls
    assert legs_of(fact) == [
        (BOB, 3.0, 20.0, 'transferred_blind', '1001', 10, 33),
        ('PJSIP/1001', 4.0, 30.0, 'completed', None, 33, 67)]
    assert recorder.calls == plain.calls
