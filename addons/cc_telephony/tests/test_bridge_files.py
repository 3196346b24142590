"""The bridge's files belong to one incarnation of one database, and calls
that ended unseen while it was away end when the PBX was last heard.

A database dropped and created again under the same name (``make run``
twice) must not take over the old one's calls in progress nor be fed its
spooled facts; files of earlier versions, named after the PBX code alone,
are set aside; a bridge stopped for hours, or a PBX restarted meanwhile,
does not count the gap as talk time."""
import asyncio
import datetime as dt
import glob
import json
import logging
import os

from ..bridge import PbxLink, file_base
from ..pbxsim import scenario
from ..tracker import Tracker
from .test_resync import ALICE, START, Center, wait_until
from .test_tracker import Recorder, call, login, simulate

CREATED = dt.datetime(2026, 11, 24, 3, 0, 0, 123456)
RECREATED = CREATED + dt.timedelta(minutes=5)


def settings(created=CREATED, database='demo'):
    return {'database': database, 'create_date': created, 'id': 1,
        'code': 'demo-sim', 'host': '127.0.0.1', 'port': 5038,
        'username': 'cc', 'secret': 'secret', 'inbound_contexts': None}


def link_for(spool_dir, **values):
    "A bridge link as started for a database (not connected)."
    return PbxLink(settings(**values), None, None, str(spool_dir))


def at(seconds):
    return START + dt.timedelta(seconds=seconds)


def state_in_progress(link):
    "Give the link's tracker a call in progress, as a running bridge has."
    events, _, _ = simulate([login(ALICE), call(10, talk=600)], until=30)
    for event in events:
        link.tracker.feed(event)
    assert link.tracker.calls


def spool_a_fact(link):
    "The database was down: one fact waits in the link's spool."
    link.sink._to_spool([('call', {'uniqueid': '1.1', 'end_time': at(0)})])
    assert link.sink.backlog == 1
    link.sink.close()


def orphans(directory, suffix):
    return glob.glob(os.path.join(directory, f'*{suffix}.*.orphan'))


def test_file_names_hold_the_database_and_stay_safe():
    assert file_base('var', 'demo', 'demo-sim') == 'var/bridge-demo-sim@demo'
    assert file_base('var', 'a@b/c', 'x y') == 'var/bridge-x%20y@a%40b%2Fc'


def test_state_of_a_recreated_database_is_not_taken_over(tmp_path, caplog):
    old = link_for(tmp_path)
    state_in_progress(old)
    old.tracker.save_state(old.state_path, old.identity)
    old.sink.close()

    with caplog.at_level(logging.WARNING):
        new = link_for(tmp_path, created=RECREATED)
    new.sink.close()
    assert new.tracker.calls == {} and new.tracker.heard is None
    assert 'not taken over' in caplog.text
    aside, = orphans(tmp_path, '.state')
    # Set aside, not lost: the old incarnation's bridge would take it over.
    os.replace(aside, new.state_path)
    again = link_for(tmp_path)
    again.sink.close()
    assert again.tracker.calls.keys() == old.tracker.calls.keys()


def test_spool_of_a_recreated_database_is_not_replayed(tmp_path, caplog):
    spool_a_fact(link_for(tmp_path))
    with caplog.at_level(logging.WARNING):
        new = link_for(tmp_path, created=RECREATED)
    assert new.sink.backlog == 0
    new.sink.close()
    assert '(1 facts not replayed)' in caplog.text
    aside, = orphans(tmp_path, '.spool')
    with open(aside, encoding='utf-8') as spool:
        assert json.loads(spool.readline())['data']['uniqueid'] == '1.1'
    # The same incarnation keeps its spool; another database has its own.
    spool_a_fact(link_for(tmp_path, created=RECREATED))
    other = link_for(tmp_path, database='other')
    assert other.sink.backlog == 0
    other.sink.close()
    same = link_for(tmp_path, created=RECREATED)
    assert same.sink.backlog == 1
    same.sink.close()


def test_files_named_after_the_code_alone_are_set_aside(tmp_path, caplog):
    tracker = Tracker(Recorder())
    tracker.save_state(str(tmp_path / 'bridge-demo-sim.state'))
    for suffix in ('.spool', '.dead'):
        with open(tmp_path / f'bridge-demo-sim{suffix}', 'w') as file:
            file.write('{"kind": "call", "data": {}}\n' * 2)
    with caplog.at_level(logging.WARNING):
        link = link_for(tmp_path)
    link.sink.close()
    assert sorted(os.listdir(tmp_path)) == sorted(
        [os.path.basename(path) for path in orphans(tmp_path, '')] + [
            'bridge-demo-sim@demo.owner', 'bridge-demo-sim@demo.spool'])
    assert len(orphans(tmp_path, '')) == 3
    assert link.sink.backlog == 0 and link.sink.dead == 0
    assert caplog.text.count('earlier version of the bridge') == 3
    assert '(2 facts not replayed)' in caplog.text


async def start_bridge(center, spool_dir):
    """A bridge process starting for the PBX of test_resync's ``Center``:
    take over the state, connect, resync."""
    link = PbxLink(center.link.settings, None, center.executor,
        str(spool_dir), clock_speed=0, wrapups={ALICE: 10})
    link.facts = []
    # Facts are looked at, not stored: there is no database here.
    link.sink.add = lambda kind, data: link.facts.append((kind, data))
    link.client.initial_delay = 0.01
    link.client.start()
    await asyncio.wait_for(link.client.connected.wait(), 10)
    return link


async def heard(center, link, seconds):
    "Run the PBX to ``seconds``; wait until the link has heard it all."
    await center.to(seconds)
    await wait_until(lambda: link.tracker.heard == at(seconds))


async def stop_bridge(link):
    "A clean stop: the state is saved for the next process."
    await link.client.close()
    link.checkpoint()
    link.sink.close()


def ended_calls(link):
    return [data for kind, data in link.facts if kind == 'call']


def play(spool_dir, story):
    "Play ``story(center)`` on the simulator with a first bridge link."
    async def run():
        center = Center()
        await center.start(str(spool_dir))
        try:
            return await story(center)
        finally:
            await center.stop()
    return asyncio.run(run())


def test_calls_gone_during_a_long_stop_end_when_last_heard(tmp_path):
    async def story(center):
        await heard(center, center.link, 20)    # answered at 13, talking
        await stop_bridge(center.link)
        # Hours later (the call ended at 73, unseen), a bridge starts.
        await center.to(3 * 3600)
        second = await start_bridge(center, tmp_path)
        await heard(center, second, 3 * 3600 + 10)
        await stop_bridge(second)
        assert center.call_ends() == []
        return second

    second = play(tmp_path, story)
    fact, = ended_calls(second)
    assert (fact['end_time'], fact['result']) == (at(20), 'answered')
    leg, = fact['legs']
    assert (leg['end_time'], leg['talk_seconds'], leg['result']) == (
        at(20), 7.0, 'answered')
    assert second.tracker.agents[ALICE].state == 'ready'


def test_calls_of_a_restarted_pbx_end_once_when_last_heard(tmp_path, caplog):
    async def story(center):
        sim = center.sim
        await heard(center, center.link, 20)
        uniqueid, = center.link.tracker.calls
        await stop_bridge(center.link)
        await center.to(40)
        sim.restart()
        # The new process numbers channels afresh: a call of it may carry
        # the Uniqueid of a call the state holds; it is not that call.
        new_uniqueid = sim.new_uniqueid
        reused = [uniqueid]
        sim.new_uniqueid = lambda: (reused or [new_uniqueid()]).pop()
        sim.at(5, sim.arrive, scenario.CallPlan(talk=30))
        await center.to(60)
        second = await start_bridge(center, tmp_path)
        assert reused == [] and uniqueid in sim.channels
        await heard(center, second, 120)    # the new call ended at 78
        await stop_bridge(second)
        return uniqueid, second

    with caplog.at_level(logging.INFO):
        uniqueid, second = play(tmp_path, story)
    fact, = ended_calls(second)
    assert (fact['uniqueid'], fact['end_time'], fact['legs'][0]['result']) == (
        uniqueid, at(20), 'answered')
    assert 'PBX restarted while AMI was down: 2 channels ended' in caplog.text
    assert 'hung up while AMI was down' not in caplog.text
    assert second.tracker.calls == {} and second.tracker.channel_call == {}
