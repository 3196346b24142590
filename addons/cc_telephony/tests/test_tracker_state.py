"""A tracker's state saved mid-call and taken over by a new tracker (a
bridge restarted or killed): the facts are those of one uninterrupted run."""
import os
import pickle
import tempfile

from ..tracker import STATE_SEEN_KEPT, STATE_VERSION, Tracker
from .test_tracker import ALICE, BOB, Recorder, call, login, simulate

DAY = [login(ALICE), login(BOB, state_interface='PJSIP/1002'),
    call(10, talk=60, holds=[{'at': 5, 'duration': 10}]),
    call(12, talk=40, transfer={'kind': 'attended', 'at': 10,
        'target': '2000', 'consult': 5, 'after': 20}),
    call(100, talk=30),
    {'at': 150, 'do': 'pause', 'agent': ALICE, 'reason': 'break'}]


def tracker_for(recorder):
    return Tracker(recorder, wrapup_seconds=lambda interface: 10)


def test_take_over_mid_call_gives_the_same_facts():
    events, whole, _ = simulate(DAY, until=400)
    # Cut where both calls are up and Alice's is on hold.
    cut = next(i for i, e in enumerate(events)
        if e['Event'] == 'Hold') + 1
    first, second = Recorder(), Recorder()
    before = tracker_for(first)
    for event in events[:cut]:
        before.feed(event)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, 'bridge.state')
        before.save_state(path)
        after = tracker_for(second)
        assert after.load_state(path)
    # The new process sees the cut's events again (a replayed buffer):
    # they change nothing.
    for event in events[cut - 5:]:
        after.feed(event)
    after.tick(before.now.replace(hour=23))
    assert first.calls + second.calls == whole.calls
    assert first.intervals + second.intervals == whole.intervals
    assert {c['uniqueid'] for c in second.calls} >= {
        c['uniqueid'] for c in whole.calls if c['end_time'] > before.now}


def test_only_the_newest_event_keys_are_saved():
    events, _, _ = simulate(DAY, until=400)
    tracker = tracker_for(Recorder())
    for event in events:
        tracker.feed(event)
    for n in range(STATE_SEEN_KEPT):
        tracker.feed({'Event': 'DeviceStateChange', 'Device': f'PJSIP/{n}',
                'Timestamp': events[-1]['Timestamp']})
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, 'bridge.state')
        tracker.save_state(path)
        after = tracker_for(Recorder())
        assert after.load_state(path)
    assert list(after._seen) == list(tracker._seen)[-STATE_SEEN_KEPT:]
    # The simulated day's events are older than the kept keys.
    assert after.feed(events[0])
    assert not after.feed({'Event': 'DeviceStateChange',
            'Device': f'PJSIP/{STATE_SEEN_KEPT - 1}',
            'Timestamp': events[-1]['Timestamp']})


def test_settings_come_from_the_new_process():
    recorder = Recorder()
    before = Tracker(recorder, wrapup_seconds=lambda interface: 10,
        inbound_contexts=('old',))
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, 'bridge.state')
        before.save_state(path)
        after = Tracker(recorder, wrapup_seconds=lambda interface: 30,
            inbound_contexts=('new',))
        assert after.load_state(path)
    assert after.inbound_contexts == {'new'}
    assert after.wrapup_seconds(ALICE) == 30


def test_missing_unreadable_or_other_version_is_ignored(caplog):
    tracker = tracker_for(Recorder())
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, 'bridge.state')
        assert not tracker.load_state(path)
        with open(path, 'wb') as file:
            file.write(b'not a pickle')
        assert not tracker.load_state(path)
        other = tracker_for(Recorder())
        other.save_state(path)
        with open(path, 'rb') as file:
            _, *saved = pickle.load(file)
        with open(path, 'wb') as file:
            pickle.dump((STATE_VERSION + 1, *saved), file)
        assert not tracker.load_state(path)
    assert 'unreadable' in caplog.text
    assert f'has version {STATE_VERSION + 1}' in caplog.text
    assert tracker.calls == {} and tracker.agents == {}


def test_a_pbx_start_is_compared_as_the_pbx_reports_it():
    tracker = tracker_for(Recorder())
    assert not tracker.pbx_restarted('2026-01-05 09:00:00')    # learnt
    assert not tracker.pbx_restarted('2026-01-05 09:00:00')
    assert not tracker.pbx_restarted(None)                     # refused
    # Early in its start-up Asterisk reports the epoch: not a restart.
    assert not tracker.pbx_restarted('1970-01-01 08:00:00')
    assert tracker.pbx_restarted('2026-01-05 09:00:40')
    assert tracker.pbx_started == '2026-01-05 09:00:40'
