"""The bridge's resynchronisation after an AMI cut, whatever moment the
PBX answers its two snapshots (CoreShowChannels, QueueStatus) at.

Events keep flowing while the snapshots are on their way; the simulator's
answers are held back here so that each ordering is played on purpose: a
hang-up before a snapshot, between the two, or after both must end the call
at its own time, never at the resync's, and free the agent."""
import asyncio
import concurrent.futures
import datetime as dt
import logging
import tempfile

import pytest

from .. import fastagi
from ..bridge import PbxLink
from ..pbxsim import scenario
from ..pbxsim.server import AMIServer

START = dt.datetime(2026, 1, 5, 1, 0)
ALICE = 'PJSIP/1001'
SCRIPT = [{'at': 0, 'do': 'login', 'queue': 'sales', 'agent': ALICE},
    {'at': 10, 'do': 'call', 'caller': '13800000001', 'talk': 60}]
# Answered at 13 s (3 s ringing), hung up at 73 s, wrap-up until 83 s.
HANGUP, READY = 73, 83


async def route_to_sales(env, agi):
    await agi.set_variable('CC_QUEUE', 'sales')


async def wait_until(predicate, timeout=10.0):
    for _ in range(int(timeout / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError('condition not reached')


class HeldAnswers:
    "Keep the simulator's answers to one list action until released."

    def __init__(self, server, action):
        self.name = f'_action_{action.lower()}'
        self.answer = getattr(server, self.name)
        self.requests = []
        setattr(server, self.name, self._hold)

    def _hold(self, *request):
        self.requests.append(request)

    def release(self):
        "Answer what was asked, now, and from then on at once."
        for request in self.requests:
            self.answer(*request)
        self.requests.clear()


class Center:
    "Simulator, FastAGI stand-in and a bridge link without a database."

    async def start(self, spool_dir):
        self.agi = await fastagi.serve(route_to_sales, '127.0.0.1', 0)
        agi_port = self.agi.sockets[0].getsockname()[1]
        self.sim = scenario.build({'start': START.isoformat(),
                'queues': [{'name': 'sales', 'strategy': 'linear',
                        'timeout': 15, 'wrapuptime': 10}],
                'script': SCRIPT}, f'agi://127.0.0.1:{agi_port}/route')
        self._beat()
        self.server = AMIServer(self.sim, {'cc': 'secret'})
        port = await self.server.start()
        self.facts = []
        self.executor = concurrent.futures.ThreadPoolExecutor(1)
        self.link = PbxLink({'id': 1, 'code': 'resync', 'host': '127.0.0.1',
                'port': port, 'username': 'cc', 'secret': 'secret',
                'inbound_contexts': None},
            None, self.executor, spool_dir, clock_speed=0,
            wrapups={ALICE: 10})
        self.link.sink.add = lambda kind, data: self.facts.append(
            (kind, data))
        self.link.client.initial_delay = 0.01
        self.link.client.start()
        await asyncio.wait_for(self.link.client.connected.wait(), 10)

    def _beat(self):
        "A real PBX is never silent for long; the link's clock is events'."
        self.sim.emit('DeviceStateChange', Device='PJSIP/heartbeat',
            State='NOT_INUSE')
        self.sim.at(1, self._beat)

    async def to(self, seconds):
        await self.sim.advance_to(START + dt.timedelta(seconds=seconds))

    def state(self):
        self.link.tick()
        return self.link.tracker.agents[ALICE].state

    def call_ends(self):
        return [(data['end_time'] - START).total_seconds()
            for kind, data in self.facts if kind == 'call']

    async def stop(self):
        await self.link.client.close()
        await self.server.stop()
        self.agi.close()
        self.executor.shutdown()


SNAPSHOT_ORDER = ['before both snapshots', 'between the snapshots',
    'after both snapshots']


@pytest.mark.parametrize('hangup_comes', SNAPSHOT_ORDER)
def test_hangup_during_resync_keeps_its_own_time(hangup_comes, caplog):
    async def play(spool_dir):
        center = Center()
        await center.start(spool_dir)
        try:
            await center.to(20)
            await wait_until(lambda: center.state() == 'talking')
            held = [HeldAnswers(center.server, action)
                for action in ('CoreShowChannels', 'QueueStatus')]
            center.server.drop_clients()
            for snapshot in range(2):
                await wait_until(lambda: any(h.requests for h in held))
                if hangup_comes == SNAPSHOT_ORDER[snapshot]:
                    await center.to(HANGUP + 1)
                asked, = [h for h in held if h.requests]
                asked.release()
                held.remove(asked)
            await wait_until(center.link.client.connected.is_set)
            await center.to(READY + 5)
            await wait_until(lambda: center.state() == 'ready')
            return center.call_ends()
        finally:
            await center.stop()

    with tempfile.TemporaryDirectory() as spool_dir, caplog.at_level(
            logging.INFO):
        ends = asyncio.run(play(spool_dir))
    assert ends == [HANGUP]
    assert 'hung up while AMI was down' not in caplog.text
