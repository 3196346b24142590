"""End to end: the PBX simulator asks the router (its own process) over
FastAGI where each call goes, and the bridge (its own process) follows the
simulator over AMI and writes into a SQLite test database; the test then
reads the call records, legs and agent intervals straight from the database.

Slow (a database is built): run on its own with
``.venv/bin/python -m pytest addons/cc_telephony/tests/test_e2e_pbx.py``.
"""
import asyncio
import datetime as dt
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from ccsuite import config, testing
from trytond.modules.cc_telephony.bridge import file_base
from trytond.modules.cc_telephony.pbxsim import scenario
from trytond.modules.cc_telephony.pbxsim.server import AMIServer

ALICE, BOB = 'PJSIP/1001', 'PJSIP/1002'
VIP, KNOWN, BLOCKED = '13800000001', '13800000002', '13900000009'
QUEUE = {'name': 'sales', 'strategy': 'linear', 'timeout': 15, 'retry': 2}
SETTLE_TIMEOUT = 30
DOWN = 'database down'


def setup_database(database, ami_port, agi_port):
    "Queue, agents, customers, lists and the PBX (run in a child process)."
    from ccsuite import session
    with session.transaction(database) as pool:
        ModelData = pool.get('ir.model.data')
        Queue = pool.get('cc.queue')
        Agent = pool.get('cc.agent')
        Party = pool.get('party.party')
        sales, = Queue.create([{'name': "Sales", 'code': 'sales',
                    'strategy': 'linear', 'busy_action': 'callback'}])
        Agent.create([{'interface': interface, 'wrapup_seconds': 10,
                    'memberships': [('create', [{'queue': sales.id}])]}
                for interface in (ALICE, BOB)])
        pool.get('cc.dnis').create([{'number': '95588', 'service': "Sales",
                    'queue': sales.id}])
        pool.get('cc.pbx').create([{'name': "Simulator", 'code': 'sim',
                    'ami_port': ami_port, 'ami_username': 'cc',
                    'ami_secret': 'secret', 'agi_port': agi_port}])
        Party.create([{'name': name, 'cc_tier': tier,
                    'contact_mechanisms': [('create', [{
                                    'type': 'mobile', 'value': number}])],
                    } for name, number, tier in [
                    ("VIP 客户", VIP, ModelData.get_id('cc_base', 'tier_vip')),
                    ("普通客户", KNOWN, None)]])
        pool.get('cc.list.entry').create([{'list_type': 'black',
                    'number': BLOCKED, 'reason': "骚扰电话",
                    'valid_from': dt.datetime(2020, 1, 1)}])


def call(when, caller, **plan):
    return {'at': when, 'do': 'call', 'caller': caller, **plan}


def pause(when, agent, reason=None):
    step = {'at': when, 'do': 'pause' if reason else 'unpause',
        'agent': agent}
    if reason:
        step['reason'] = reason
    return step


# (simulated seconds, script steps, live states and number of ended calls
# expected in the database once the bridge has caught up).
DAY = [
    (5, [{'at': 0, 'do': 'login', 'queue': 'sales', 'agent': ALICE},
            {'at': 0, 'do': 'login', 'queue': 'sales', 'agent': BOB}],
        {ALICE: 'ready', BOB: 'ready'}, 0),
    # A VIP: priority and the longest idle agent (a tie: first interface).
    (95, [call(10, VIP, talk=60)], {ALICE: 'ready', BOB: 'ready'}, 1),
    # Alice lets it ring out; Bob answers. Meanwhile the database cannot be
    # written (DOWN): the bridge spools the facts and replays them after.
    (195, [call(100, KNOWN, talk=50, no_answer=[ALICE])],
        {ALICE: 'ready', BOB: 'ready'}, 2, DOWN),
    # The VIP again: Alice served them, is ready, so she is preferred.
    (295, [call(200, VIP, talk=30)], {ALICE: 'ready', BOB: 'ready'}, 3),
    (395, [call(300, BLOCKED)], {ALICE: 'ready', BOB: 'ready'}, 4),
    (405, [pause(400, ALICE, 'meal'), pause(400, BOB, 'meeting')],
        {ALICE: 'not_ready', BOB: 'not_ready'}, 4),
    # Nobody ready: a callback is offered (6 s, no key: declined); the
    # caller waits in the queue, then hangs up.
    (495, [call(410, '13700000004', patience=20)],
        {ALICE: 'not_ready', BOB: 'not_ready'}, 5),
    (595, [pause(500, ALICE), pause(500, BOB)],
        {ALICE: 'ready', BOB: 'ready'}, 5),
    (795, [call(600, '13700000005', transfer={'kind': 'blind', 'at': 20,
                    'target': '2000', 'after': 40})],
        {ALICE: 'ready', BOB: 'ready'}, 6),
    ]


def seconds_after(start, value):
    "Seconds from ``start`` to a datetime the database gives (None: None)."
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(str(value))
    return round((moment - start).total_seconds(), 1)


def wait_for_port(port, timeout=60):
    testing.wait_until(lambda: _accepts(port), timeout,
        message=f'port {port} listening')


def _accepts(port):
    with socket.socket() as sock:
        return sock.connect_ex(('127.0.0.1', port)) == 0


@unittest.skipIf(config.database_uri(),
    "takes SQLite's write lock to take the database down")
class ScriptedDayTestCase(unittest.TestCase):
    "A scripted day through simulator, router, bridge and database"
    maxDiff = None
    # The database's set-up function (by name: it runs in a child process),
    # the simulator's queues and the day (see DAY).
    setup = 'setup_database'
    queues = [QUEUE]
    day = DAY

    @classmethod
    def setUpClass(cls):
        cls.database = testing.TestDatabase(
            testing.unique_database_name('cc_tel_e2e'),
            modules=['cc_telephony']).create()
        cls.spool = tempfile.TemporaryDirectory()
        cls.ami_port, cls.agi_port = testing.free_port(), testing.free_port()
        env = config.environ()
        subprocess.run([sys.executable, '-c',
                'import sys; from trytond.modules.cc_telephony.tests.'
                f'test_e2e_pbx import {cls.setup} as setup; '
                'setup(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))',
                cls.database.name, str(cls.ami_port), str(cls.agi_port)],
            check=True, env=env, cwd=config.ROOT)
        cls.logs = []
        cls.router = cls.service('router', '-v', '--listen',
            f'127.0.0.1:{cls.agi_port}')
        # The simulator's clock jumps: only event times may move the
        # bridge's clock (--clock-speed 0).
        cls.bridge = cls.service('bridge', '--spool-dir', cls.spool.name,
            '--flush-interval', '0.1', '--clock-speed', '0')
        wait_for_port(cls.agi_port)

    @classmethod
    def service(cls, name, *args):
        # Kept after the run (their names are in failure messages).
        log = tempfile.NamedTemporaryFile(
            'w+', prefix='cc-e2e-', suffix=f'-{name}.log', delete=False)
        cls.logs.append(log)
        return subprocess.Popen([sys.executable, '-m',
                f'trytond.modules.cc_telephony.{name}', '-c',
                str(config.CONFIG_FILE), '-d', cls.database.name, *args],
            env=config.environ(), cwd=config.ROOT, stdout=log,
            stderr=subprocess.STDOUT)

    @classmethod
    def tearDownClass(cls):
        for process in (cls.router, cls.bridge):
            process.terminate()
            process.wait(10)
        cls.spool.cleanup()
        cls.database.drop()
        for log in cls.logs:
            log.close()

    def query(self, sql, *params):
        return self.database.query(sql, *params)

    def live_states(self):
        return dict(self.query('SELECT interface, state FROM cc_agent'))

    def ended_calls(self):
        return self.query(
            "SELECT count(*) FROM cc_call WHERE state = 'ended'")[0][0]

    async def settle(self, states, ended):
        "Wait until the bridge has written what the step leads to."
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while (self.live_states(), self.ended_calls()) != (states, ended):
            if time.monotonic() > deadline:
                self.fail(f'{self.live_states()}, {self.ended_calls()} '
                    f'ended != {states}, {ended}' + self.service_logs())
            await asyncio.sleep(0.05)

    def service_logs(self):
        text = ''
        for log in self.logs:
            log.seek(0)
            text += f'\n--- {log.name}\n' + log.read()[-3000:]
        return text

    def lock_database(self):
        "Take SQLite's write lock: every writer fails after its timeout."
        lock = sqlite3.connect(
            self.database.sqlite_path(self.database.name),
            isolation_level=None)
        lock.execute('BEGIN EXCLUSIVE')
        return lock

    def spool_size(self):
        path = file_base(self.spool.name, self.database.name, 'sim') + (
            '.spool')
        return os.path.getsize(path) if os.path.exists(path) else 0

    async def wait_spooled(self):
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not self.spool_size():
            if time.monotonic() > deadline:
                self.fail('nothing spooled' + self.service_logs())
            await asyncio.sleep(0.1)

    def run_day(self):
        start = dt.datetime.now(dt.timezone.utc).replace(
            tzinfo=None, microsecond=0)
        sim = scenario.build({'start': start.isoformat(),
                'queues': self.queues, 'script': [s for _, steps, *_ in
                    self.day for s in steps]},
            f'agi://127.0.0.1:{self.agi_port}/route')

        async def run():
            server = AMIServer(sim, {'cc': 'secret'})
            await server.start('127.0.0.1', self.ami_port)
            # The bridge reports 'connected' once its resynchronisation is
            # done: events sent before would race with the QueueStatus.
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while self.query('SELECT status FROM cc_pbx') != [('connected',)]:
                if time.monotonic() > deadline:
                    self.fail('bridge did not log in' + self.service_logs())
                await asyncio.sleep(0.05)
            for until, _, states, ended, *down in self.day:
                lock = self.lock_database() if down else None
                await sim.advance_to(start + dt.timedelta(seconds=until))
                # Real PBX time flows; the simulator's jumps. An event at
                # the step's time lets the bridge's clock (which follows
                # event times) see the wrap-ups that ended meanwhile.
                sim.emit('TestClock')
                if lock is not None:
                    await self.wait_spooled()
                    lock.rollback()
                    lock.close()
                await self.settle(states, ended)
            await server.stop()
        asyncio.run(run())
        return start

    def test_scripted_day(self):
        start = self.run_day()
        print('service logs:', *(log.name for log in self.logs))

        def seconds(value):
            return seconds_after(start, value)

        # Every call was routed: a decision the router spooled while the
        # database was locked is replayed within its retry period.
        testing.wait_until(lambda: self.query(
                "SELECT count(*) FROM cc_call WHERE state = 'ended' "
                "AND routing_action IS NOT NULL")[0][0] >= 6,
            SETTLE_TIMEOUT, message='calls ended and their decisions stored')
        calls = self.query(
            'SELECT c.id, c.caller_number, c.result, c.queue_code, '
            'c.routing_action, c.routing_priority, c.routing_agent, '
            'c.routing_reason, c.abandon_position, c.wait_seconds, '
            'c.talk_seconds, a.interface, p.name, c.interaction, c.state, '
            'c.enter_time, c.answer_time, c.end_time '
            'FROM cc_call c LEFT JOIN cc_agent a ON a.id = c.agent '
            'LEFT JOIN party_party p ON p.id = c.party ORDER BY c.enter_time')
        summary = [(number, result, queue, action, priority, agent, reason,
                position, wait, talk, handler, party, bool(interaction),
                state, seconds(enter), seconds(answer), seconds(end))
            for (_, number, result, queue, action, priority, agent, reason,
                position, wait, talk, handler, party, interaction, state,
                enter, answer, end) in calls]
        self.assertEqual(summary, [
                ('+8613800000001', 'answered', 'sales', 'queue', 20, ALICE,
                    'service,tier,vip,longest_idle', None, 3.0, 60.0, ALICE,
                    "VIP 客户", True, 'ended', 10.0, 13.0, 73.0),
                ('+8613800000002', 'answered', 'sales', 'queue', 0, None,
                    'service', None, 20.0, 50.0, BOB, "普通客户", True,
                    'ended', 100.0, 120.0, 170.0),
                ('+8613800000001', 'answered', 'sales', 'queue', 20, ALICE,
                    'service,tier,vip,affinity', None, 3.0, 30.0, ALICE,
                    "VIP 客户", True, 'ended', 200.0, 203.0, 233.0),
                ('+8613900000009', 'rejected', None, 'reject', 0, None,
                    'service,blacklist', None, 0.0, 0.0, None, None, True,
                    'ended', 300.0, None, 300.0),
                ('+8613700000004', 'abandoned', 'sales', 'callback', 0,
                    None, 'service,busy', 1, 20.0, 0.0, None, None, True,
                    'ended', 410.0, None, 436.0),
                ('+8613700000005', 'transferred', 'sales', 'queue', 0,
                    None, 'service', None, 3.0, 60.0, None, None,
                    True, 'ended', 600.0, 603.0, 665.0),
                ])
        legs = self.query(
            'SELECT c.caller_number, l.interface, l.result, l.ring_seconds, '
            'l.talk_seconds, l.wrapup_seconds, l.transfer_target '
            'FROM cc_call_leg l JOIN cc_call c ON c.id = l.call '
            'ORDER BY c.enter_time, l.ring_start')
        self.assertEqual(legs, [
                ('+8613800000001', ALICE, 'completed', 3.0, 60.0, 10.0, None),
                ('+8613800000002', ALICE, 'ring_no_answer', 15.0, 0.0, 0.0,
                    None),
                ('+8613800000002', BOB, 'completed', 3.0, 50.0, 10.0, None),
                ('+8613800000001', ALICE, 'completed', 3.0, 30.0, 10.0, None),
                ('+8613700000005', ALICE, 'transferred_blind', 3.0, 20.0,
                    10.0, '2000'),
                # The transfer target rings 2 s (625), then talks 40 s.
                ('+8613700000005', 'PJSIP/2000', 'completed', 2.0, 40.0, 0.0,
                    None),
                ])
        alice = [(state, reason, seconds(begin), seconds(end))
            for state, reason, begin, end in self.query(
                'SELECT state, reason_code, start, "end" FROM cc_agent_state '
                'WHERE interface = ? ORDER BY start', ALICE)]
        self.assertEqual(alice, [
                ('ready', None, 0.0, 10.0),
                ('ringing', None, 10.0, 13.0),
                ('talking', None, 13.0, 73.0),
                ('wrap_up', None, 73.0, 83.0),
                ('ready', None, 83.0, 100.0),
                ('ringing', None, 100.0, 115.0),
                ('ready', None, 115.0, 200.0),
                ('ringing', None, 200.0, 203.0),
                ('talking', None, 203.0, 233.0),
                ('wrap_up', None, 233.0, 243.0),
                ('ready', None, 243.0, 400.0),
                ('not_ready', 'meal', 400.0, 500.0),
                ('ready', None, 500.0, 600.0),
                ('ringing', None, 600.0, 603.0),
                ('talking', None, 603.0, 623.0),
                ('wrap_up', None, 623.0, 633.0),
                ])
        # What was spooled while the database was down was replayed.
        self.assertEqual(self.spool_size(), 0)
        # Every call is in the customers' contact history, once.
        self.assertEqual(self.query(
                "SELECT count(*), count(DISTINCT origin) FROM cc_interaction "
                "WHERE origin LIKE 'cc.call,%'"), [(6, 6)])


def setup_transfer_database(database, ami_port, agi_port):
    """Two agents with users (so that they get screen pops) in one queue,
    a customer, and the PBX (run in a child process)."""
    from ccsuite import session
    with session.transaction(database) as pool:
        Queue = pool.get('cc.queue')
        Agent = pool.get('cc.agent')
        User = pool.get('res.user')
        sales, = Queue.create([{'name': "Sales", 'code': 'sales',
                    'strategy': 'linear'}])
        alice, bob = User.create([{'name': "Alice", 'login': 'alice'},
                {'name': "Bob", 'login': 'bob'}])
        Agent.create([{'interface': interface, 'user': user.id,
                    'wrapup_seconds': 10,
                    'memberships': [('create', [{'queue': sales.id}])]}
                for interface, user in ((ALICE, alice), (BOB, bob))])
        pool.get('cc.dnis').create([{'number': '95588', 'service': "Sales",
                    'queue': sales.id}])
        pool.get('party.party').create([{'name': "普通客户",
                    'contact_mechanisms': [('create', [{
                                    'type': 'mobile', 'value': KNOWN}])]}])
        pool.get('cc.pbx').create([{'name': "Simulator", 'code': 'sim',
                    'ami_port': ami_port, 'ami_username': 'cc',
                    'ami_secret': 'secret', 'agi_port': agi_port}])


# Alice answers at 13 and consults Bob on his extension at 28; his phone
# rings 2 s; she hands the caller over at 40; the caller hangs up at 70.
# At 35 Bob talks to Alice about the caller: both pops must be stored
# (the simulator's clock jumps; a real consultation takes seconds).
TRANSFER_DAY = [
    (5, [{'at': 0, 'do': 'login', 'queue': 'sales', 'agent': ALICE},
            {'at': 0, 'do': 'login', 'queue': 'sales', 'agent': BOB}],
        {ALICE: 'ready', BOB: 'ready'}, 0),
    (35, [call(10, KNOWN, transfer={'kind': 'attended', 'at': 15,
                    'target': '1002', 'consult': 10, 'after': 30})],
        {ALICE: 'talking', BOB: 'talking'}, 0),
    (95, [], {ALICE: 'ready', BOB: 'ready'}, 1),
    ]
# Screen pops stored once each step of TRANSFER_DAY has settled.
TRANSFER_POPS = [0, 2, 2]


class AgentToAgentTransferTestCase(ScriptedDayTestCase):
    "An attended transfer from one agent to another, through the bridge"
    setup = 'setup_transfer_database'
    day = TRANSFER_DAY
    test_scripted_day = None

    async def settle(self, states, ended):
        await super().settle(states, ended)
        pops = next(self.pops)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while self.query('SELECT count(*) FROM cc_screen_pop')[0][0] != pops:
            if time.monotonic() > deadline:
                self.fail(f'{pops} pops not stored' + self.service_logs())
            await asyncio.sleep(0.05)

    def test_attended_transfer_to_another_agent(self):
        self.pops = iter(TRANSFER_POPS)
        start = self.run_day()
        self.assertEqual(self.query(
                'SELECT c.result, a.interface FROM cc_call c '
                'JOIN cc_agent a ON a.id = c.agent'),
            [('transferred', BOB)])
        self.assertEqual(self.query(
                'SELECT interface, result, ring_seconds, talk_seconds, '
                'wrapup_seconds, transfer_target FROM cc_call_leg '
                'ORDER BY ring_start'), [
                (ALICE, 'transferred_attended', 3.0, 27.0, 10.0, BOB),
                # Bob talks from the consult (30) to the caller's hang-up.
                (BOB, 'completed', 2.0, 40.0, 10.0, None)])
        bob = [(state, seconds_after(start, begin), seconds_after(start, end))
            for state, begin, end in self.query(
                'SELECT state, start, "end" FROM cc_agent_state '
                'WHERE interface = ? ORDER BY start', BOB)]
        self.assertEqual(bob, [('ready', 0.0, 28.0), ('ringing', 28.0, 30.0),
                ('talking', 30.0, 70.0), ('wrap_up', 70.0, 80.0)])
        # Each agent got one pop of the caller's customer form, and one
        # notification: Bob's came when he answered the consultation.
        self.assertEqual(self.query(
                'SELECT u.login, count(*), count(DISTINCT p.notification) '
                'FROM cc_screen_pop p JOIN res_user u ON u.id = p."user" '
                'GROUP BY u.login ORDER BY u.login'),
            [('alice', 1, 1), ('bob', 1, 1)])
        self.assertEqual(self.query(
                'SELECT u.login, count(*) FROM res_notification n '
                'JOIN res_user u ON u.id = n."user" '
                "WHERE u.login IN ('alice', 'bob') "
                'GROUP BY u.login ORDER BY u.login'),
            [('alice', 1), ('bob', 1)])

def setup_overflow_database(database, ami_port, agi_port):
    """Queues with a maximum wait: sales (30 s, then backup) and hotline
    (20 s, no overflow); Alice answers both, Bob answers backup."""
    from ccsuite import session
    with session.transaction(database) as pool:
        Queue = pool.get('cc.queue')
        Agent = pool.get('cc.agent')
        backup, hotline = Queue.create([
                {'name': "Backup", 'code': 'backup', 'max_wait_seconds': 0},
                {'name': "Hotline", 'code': 'hotline',
                    'max_wait_seconds': 20}])
        sales, = Queue.create([{'name': "Sales", 'code': 'sales',
                    'max_wait_seconds': 30, 'overflow_queue': backup.id}])
        Agent.create([{'interface': interface, 'wrapup_seconds': 10,
                    'memberships': [('create', [{'queue': queue.id}
                                for queue in queues])]}
                for interface, queues in [
                    (ALICE, [sales, hotline]), (BOB, [backup])]])
        pool.get('cc.dnis').create([
                {'number': '95588', 'service': "Sales", 'queue': sales.id},
                {'number': '95599', 'service': "Hotline",
                    'queue': hotline.id}])
        pool.get('cc.pbx').create([{'name': "Simulator", 'code': 'sim',
                    'ami_port': ami_port, 'ami_username': 'cc',
                    'ami_secret': 'secret', 'agi_port': agi_port}])


OVERFLOW_DAY = [
    (5, [{'at': 0, 'do': 'login', 'queue': queue, 'agent': agent}
            for agent, queue in [(ALICE, 'sales'), (ALICE, 'hotline'),
                (BOB, 'backup')]],
        {ALICE: 'ready', BOB: 'ready'}, 0),
    (15, [pause(10, ALICE, 'meal')], {ALICE: 'not_ready', BOB: 'ready'}, 0),
    # Alice is away: the caller waits in sales for the database's 30 s,
    # then the dialplan queues them in backup, where Bob answers.
    (25, [call(20, '13700000031', talk=40)],
        {ALICE: 'not_ready', BOB: 'ready'}, 0),
    (115, [], {ALICE: 'not_ready', BOB: 'ready'}, 1),
    # Hotline's 20 s pass without overflow queue: the call ends there.
    (125, [call(120, '13700000032', dnis='95599')],
        {ALICE: 'not_ready', BOB: 'ready'}, 1),
    (200, [], {ALICE: 'not_ready', BOB: 'ready'}, 2),
    ]
# Decisions stored once each step of OVERFLOW_DAY has settled.
OVERFLOW_ROUTED = [0, 0, 1, 1, 2, 2]


class OverflowTestCase(ScriptedDayTestCase):
    """The database's maximum wait and overflow queue, through the router's
    CC_TIMEOUT and CC_OVERFLOW, decide where the simulator's callers go"""
    setup = 'setup_overflow_database'
    # The simulator's own queues have no maximum wait: only the router's
    # answer can make a caller leave.
    queues = [{**QUEUE, 'name': name} for name in ('sales', 'backup',
            'hotline')]
    day = OVERFLOW_DAY
    test_scripted_day = None

    async def settle(self, states, ended):
        """Also wait for the router's decisions: one stored after its call
        ended would overwrite the queue the bridge recorded (the overflow
        queue) with the routed one (cc.call._record_decisions)."""
        await super().settle(states, ended)
        routed = next(self.routed)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while self.query('SELECT count(*) FROM cc_call WHERE routing_action '
                'IS NOT NULL')[0][0] != routed:
            if time.monotonic() > deadline:
                self.fail(f'{routed} decisions not stored'
                    + self.service_logs())
            await asyncio.sleep(0.05)

    def test_max_wait_then_overflow(self):
        self.routed = iter(OVERFLOW_ROUTED)
        start = self.run_day()

        def seconds(value):
            return seconds_after(start, value)

        calls = self.query(
            'SELECT c.caller_number, c.result, c.queue_code, '
            'c.routing_action, c.routing_queue, c.routing_reason, '
            'c.abandon_position, c.wait_seconds, c.talk_seconds, '
            'a.interface, c.state, c.enter_time, c.answer_time, c.end_time '
            'FROM cc_call c LEFT JOIN cc_agent a ON a.id = c.agent '
            'ORDER BY c.enter_time')
        self.assertEqual([row[:11] + tuple(map(seconds, row[11:]))
                for row in calls], [
                # Answered in the overflow queue: the tracker's result is
                # 'answered' (an overflow answered by a queue member), its
                # queue the last one, its wait from the first join.
                ('+8613700000031', 'answered', 'backup', 'queue', 'sales',
                    'service,busy', None, 33.0, 40.0, BOB, 'ended',
                    20.0, 53.0, 93.0),
                ('+8613700000032', 'timeout', 'hotline', 'queue',
                    'hotline', 'service,busy', None, 20.0, 0.0, None,
                    'ended', 120.0, None, 140.0),
                ])
        legs = self.query(
            'SELECT c.caller_number, l.interface, l.result, l.ring_seconds, '
            'l.talk_seconds FROM cc_call_leg l JOIN cc_call c '
            'ON c.id = l.call ORDER BY c.enter_time, l.ring_start')
        self.assertEqual(legs,
            [('+8613700000031', BOB, 'completed', 3.0, 40.0)])
