"""Telephony end to end: PBX simulator -> router and bridge (real service
processes) -> database, on SQLite or PostgreSQL (CC_DATABASE_URI).

addons/cc_telephony/tests/test_e2e_pbx.py already plays a day with VIP
affinity, ring-no-answer then answered, blacklist, callback offered with an
abandon and a blind transfer. This file adds what it does not cover:
hold, a VIP jumping the queue, an attended transfer (Asterisk's Atxfer,
through its Local channel), night service; AMI cut mid-call; the database
down mid-call (PostgreSQL: connections refused and killed; SQLite: another
process holds the write lock); malformed AMI frames and FastAGI requests;
services stopped by SIGTERM exit cleanly. Records are read straight from the database.

The simulator runs in this process on a stepped clock; a real PBX is never
silent for long, so a DeviceStateChange heartbeat every simulated second
keeps the bridge's clock (--clock-speed 0: only event times move it) on
the simulator's, and wrap-ups end on time.
"""
import asyncio
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ccsuite import config, testing  # noqa: E402

ALICE, BOB, TARGET = 'PJSIP/8001', 'PJSIP/8002', 'PJSIP/2000'
VIP, BLOCKED = '13800000001', '13900000009'
SERVICE, NIGHT_SERVICE = '95588', '95599'
NIGHT_QUEUE = 'night'
PBX_CODE = 'e2e'
SIM_QUEUES = [
    {'name': 'consult', 'strategy': 'linear', 'timeout': 15, 'retry': 2,
        'wrapuptime': 10},
    {'name': NIGHT_QUEUE, 'strategy': 'linear', 'timeout': 15},
    ]
TIMEOUT = 60


# -- database set-up and router, run in child processes --------------------

def setup_center(database, ami_port, agi_port):
    "Queues, agents, dialled numbers, customers and the PBX of the test."
    from ccsuite import session
    with session.transaction(database) as pool:
        ModelData = pool.get('ir.model.data')
        Queue = pool.get('cc.queue')
        # Open one minute on a weekday three days away (in any time zone):
        # night service throughout the test. (A calendar without opening
        # hours is the standard Monday-Friday 09:00-18:00 one.)
        closed_weekday = (dt.date.today().weekday() + 3) % 7
        night_hours, = pool.get('cc.calendar').create([{
                    'name': "夜间专线 (night line)",
                    'chinese_holidays': False,
                    'lines': [('create', [{'weekday': str(closed_weekday),
                                    'start_time': dt.time(3, 0),
                                    'end_time': dt.time(3, 1)}])]}])
        general, night = Queue.create([
                {'name': "综合咨询", 'code': 'consult', 'strategy': 'linear',
                    'wrapup_seconds': 10},
                {'name': "夜间", 'code': NIGHT_QUEUE,
                    'calendar': night_hours.id,
                    'night_kind': 'voicemail', 'night_target': '9000'}])
        pool.get('cc.agent').create([{'interface': interface,
                    'wrapup_seconds': 10,
                    'memberships': [('create', [{'queue': general.id}])]}
                for interface in (ALICE, BOB)])
        pool.get('cc.dnis').create([
                {'number': SERVICE, 'service': "热线", 'queue': general.id},
                {'number': NIGHT_SERVICE, 'service': "夜间热线",
                    'queue': night.id}])
        pool.get('cc.pbx').create([{'name': "Simulator", 'code': PBX_CODE,
                    'ami_port': ami_port, 'ami_username': 'cc',
                    'ami_secret': 'secret', 'agi_port': agi_port,
                    'default_queue': general.id}])
        pool.get('party.party').create([{'name': "VIP 客户",
                    'cc_tier': ModelData.get_id('cc_base', 'tier_vip'),
                    'contact_mechanisms': [('create', [
                                {'type': 'mobile', 'value': VIP}])]}])
        pool.get('cc.list.entry').create([{'list_type': 'black',
                    'number': BLOCKED, 'reason': "骚扰电话",
                    'valid_from': dt.datetime(2020, 1, 1)}])


# -- the test bench -----------------------------------------------------------

def child_environ():
    env = config.environ()
    env['PYTHONPATH'] = os.pathsep.join(
        filter(None, [str(ROOT), env.get('PYTHONPATH')]))
    return env


def wait_for_port(port):
    def accepts():
        with socket.socket() as sock:
            return sock.connect_ex(('127.0.0.1', port)) == 0
    testing.wait_until(accepts, TIMEOUT, message=f'port {port} listening')


async def until(condition, message, timeout=TIMEOUT, explain=None):
    """Wait, without blocking the simulator, until condition() is true;
    explain() tells what was reached instead."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            reached = f'; reached: {explain()}' if explain else ''
            raise AssertionError(
                f'{message}: not reached in {timeout} s{reached}')
        await asyncio.sleep(0.05)


class Center:
    """A cloned database with the test's center, the router and the bridge
    as processes, and a simulator served on the PBX's AMI port."""

    def __init__(self, template, output_dir, name, answer='array'):
        self.answer = answer
        self.database = template.clone(
            testing.unique_database_name(f'cc_tel_{name}'))
        self.output_dir = output_dir
        self.name = name
        self.ami_port, self.agi_port = testing.free_port(), testing.free_port()
        self.spool_dir = tempfile.mkdtemp(prefix='cc-bridge-spool-')
        self.processes = {}
        subprocess.run([sys.executable, __file__, 'setup', self.database.name,
                str(self.ami_port), str(self.agi_port)],
            check=True, env=child_environ(), cwd=ROOT)
        self.start_router()
        self.start_bridge()
        wait_for_port(self.agi_port)

    def bridge_file(self, suffix):
        "The bridge's file of the test's PBX and database (``.spool``...)."
        from trytond.modules.cc_telephony.bridge import file_base
        return Path(file_base(self.spool_dir, self.database.name, PBX_CODE)
            + suffix)

    @property
    def spool_path(self):
        return self.bridge_file('.spool')

    def state_saved_since(self, moment):
        "Whether the bridge saved its tracker's state after ``moment``."
        path = self.bridge_file('.state')
        return path.exists() and path.stat().st_mtime > moment

    def _start(self, name, command):
        log = open(self.output_dir / f'{self.name}-{name}.log', 'ab')
        self.processes[name] = (subprocess.Popen(command, env=child_environ(),
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log)

    def start_router(self):
        self._start('router', [sys.executable, '-m',
                'trytond.modules.cc_telephony.router',
                '-d', self.database.name, '--pbx', PBX_CODE,
                '--listen', f'127.0.0.1:{self.agi_port}',
                '--answer', self.answer])

    def start_bridge(self):
        self._start('bridge', [sys.executable, '-m',
                'trytond.modules.cc_telephony.bridge', '-d',
                self.database.name, '--pbx', PBX_CODE, '--spool-dir',
                self.spool_dir, '--flush-interval', '0.1',
                '--checkpoint-interval', '0.2', '--clock-speed', '0'])

    def terminate(self, name, how=signal.SIGTERM, timeout=20):
        "Signal a service to stop; return its exit code."
        process, log = self.processes.pop(name)
        process.send_signal(how)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return 'killed'
        finally:
            log.close()

    def close(self):
        codes = {name: self.terminate(name) for name in list(self.processes)}
        self.database.drop()
        return codes

    def query(self, sql, *params):
        return self.database.query(sql, *params)

    def live_states(self):
        return dict(self.query('SELECT interface, state FROM cc_agent'))

    def pbx_connected(self):
        "Whether the bridge reported its AMI link up (after its resync)."
        return self.query('SELECT status FROM cc_pbx WHERE code = ?',
            PBX_CODE) == [('connected',)]

    def spooled(self):
        try:
            return self.spool_path.read_text().count('\n')
        except FileNotFoundError:
            return 0


class Pbx:
    "The simulator on the center's AMI port, on a stepped clock."

    def __init__(self, center, script, start):
        from trytond.modules.cc_telephony.pbxsim import scenario
        self.center, self.start = center, start
        self.sim = scenario.build({'start': start.isoformat(),
                'queues': SIM_QUEUES, 'script': script},
            f'agi://127.0.0.1:{center.agi_port}/route')
        self._beat()

    def _beat(self):
        self.sim.emit('DeviceStateChange', Device='PJSIP/heartbeat',
            State='NOT_INUSE')
        self.sim.at(1, self._beat)

    async def __aenter__(self):
        from trytond.modules.cc_telephony.pbxsim.server import AMIServer
        self.server = AMIServer(self.sim, {'cc': 'secret'})
        await self.server.start('127.0.0.1', self.center.ami_port)
        await until(self.center.pbx_connected,
            'bridge connected and resynchronised')
        return self

    async def __aexit__(self, *exc):
        await self.server.stop()

    async def bridge_logged_in(self):
        await until(lambda: self.server.clients, 'bridge logged in over AMI')

    async def to(self, seconds, states=None):
        """Run the simulator to ``seconds``; then wait until the database
        shows the agents' live ``states``."""
        await self.sim.advance_to(self.start + dt.timedelta(seconds=seconds))
        if states:
            await until(lambda: self.live_states(states) == states,
                f'live states {states} at {seconds} s')

    def live_states(self, states):
        "The database's live states of the agents named in ``states``."
        live = self.center.live_states()
        return {interface: live.get(interface) for interface in states}

    def at(self, value):
        "Seconds since the start of a database datetime (None stays None)."
        if value is None:
            return None
        moment = dt.datetime.fromisoformat(str(value))
        return round((moment - self.start).total_seconds(), 1)


def start_time():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None,
        microsecond=0)


def call(when, caller, dnis=SERVICE, **plan):
    return {'at': when, 'do': 'call', 'caller': caller, 'dnis': dnis, **plan}


def login(when, *agents):
    return [{'at': when, 'do': 'login', 'queue': 'consult', 'agent': agent}
        for agent in agents]


def logout(when, *agents):
    return [{'at': when, 'do': 'logout', 'queue': 'consult', 'agent': agent}
        for agent in agents]


@pytest.fixture
def center(template_database, output_dir, request):
    # Parametrised with indirect=True: the router's --answer.
    answer = getattr(request, 'param', 'array')
    center = Center(template_database, output_dir,
        f'{request.node.originalname[5:17]}_{answer[:3]}', answer)
    yield center
    codes = center.close()
    # Services stop cleanly on SIGTERM (the bridge writes what it holds).
    assert codes == {'router': 0, 'bridge': 0}, codes


# -- the scripted day -----------------------------------------------------------

DAY = (login(0, ALICE, BOB) + [
    call(10, '13700000001', talk=60, holds=[{'at': 10, 'duration': 15}]),
    # Both agents busy; a plain caller waits, then a VIP arrives and is
    # put ahead of them: the VIP is answered first.
    call(100, '13700000002', talk=60),
    call(101, '13700000003', talk=60),
    call(110, '13700000004', talk=30),
    call(120, VIP, talk=30),
    call(300, '13700000005', transfer={'kind': 'attended', 'at': 15,
        'target': '2000', 'consult': 10, 'after': 30}),
    call(500, '13700000006', dnis=NIGHT_SERVICE, talk=60),
    ] + logout(600, ALICE, BOB))
READY = {ALICE: 'ready', BOB: 'ready'}
TALKING = {ALICE: 'talking', BOB: 'talking'}
CHECKPOINTS = [(5, READY), (95, READY), (105, TALKING), (115, TALKING),
    (295, READY), (495, READY),
    (605, {ALICE: 'logged_out', BOB: 'logged_out'})]

CALL_COLUMNS = ('c.caller_number, c.dnis, c.queue_code, c.result, '
    'c.routing_action, c.routing_priority, c.routing_agent, '
    'c.routing_target, c.routing_reason, c.wait_seconds, c.ring_seconds, '
    'c.talk_seconds, c.hold_seconds, c.wrapup_seconds, '
    'c.within_service_level, a.interface, p.name, c.state, '
    'c.enter_time, c.answer_time, c.end_time')
EXPECTED_CALLS = [
    # number, dnis, queue, result, action, priority, preferred agent,
    # target, reasons, wait, ring, talk, hold, wrap-up, within SL,
    # handling agent, customer, state, enter, answer, end (seconds)
    ('+8613700000001', SERVICE, 'consult', 'answered', 'queue', 0, None,
        None, 'service', 3.0, 3.0, 45.0, 15.0, 10.0, True, ALICE, None,
        'ended', 10.0, 13.0, 73.0),
    ('+8613700000002', SERVICE, 'consult', 'answered', 'queue', 0, None,
        None, 'service', 3.0, 3.0, 60.0, 0.0, 10.0, True, ALICE, None,
        'ended', 100.0, 103.0, 163.0),
    ('+8613700000003', SERVICE, 'consult', 'answered', 'queue', 0, None,
        None, 'service', 3.0, 3.0, 60.0, 0.0, 10.0, True, BOB, None,
        'ended', 101.0, 104.0, 164.0),
    ('+8613700000004', SERVICE, 'consult', 'answered', 'queue', 0, None,
        None, 'service,busy', 67.0, 3.0, 30.0, 0.0, 10.0, False, BOB, None,
        'ended', 110.0, 177.0, 207.0),
    # Tier VIP (10) + the PBX's VIP boost (10): joins ahead of the caller
    # waiting since 110 and gets the first agent free (Alice at 173).
    ('+8613800000001', SERVICE, 'consult', 'answered', 'queue', 20, None,
        None, 'service,tier,vip', 56.0, 3.0, 30.0, 0.0, 10.0, False, ALICE,
        "VIP 客户", 'ended', 120.0, 176.0, 206.0),
    # Attended transfer: the consulted party (not an agent) ends the call.
    ('+8613700000005', SERVICE, 'consult', 'transferred', 'queue', 0, None,
        None, 'service', 3.0, 5.0, 67.0, 0.0, 10.0, True, None, None,
        'ended', 300.0, 303.0, 360.0),
    ('+8613700000006', NIGHT_SERVICE, None, 'voicemail', 'night', 0, None,
        'voicemail', 'service,closed', 0.0, 0.0, 0.0, 0.0, 0.0, False, None,
        None, 'ended', 500.0, None, 530.0),
    ]
EXPECTED_LEGS = [
    # number, interface, result, ring, answer, end, ring s, talk s, hold s,
    # wrap-up s, transfer target
    ('+8613700000001', ALICE, 'completed', 10.0, 13.0, 73.0, 3.0, 45.0,
        15.0, 10.0, None),
    ('+8613700000002', ALICE, 'completed', 100.0, 103.0, 163.0, 3.0, 60.0,
        0.0, 10.0, None),
    ('+8613700000003', BOB, 'completed', 101.0, 104.0, 164.0, 3.0, 60.0,
        0.0, 10.0, None),
    ('+8613700000004', BOB, 'completed', 174.0, 177.0, 207.0, 3.0, 30.0,
        0.0, 10.0, None),
    ('+8613800000001', ALICE, 'completed', 173.0, 176.0, 206.0, 3.0, 30.0,
        0.0, 10.0, None),
    ('+8613700000005', ALICE, 'transferred_attended', 300.0, 303.0, 330.0,
        3.0, 27.0, 0.0, 10.0, TARGET),
    ('+8613700000005', TARGET, 'completed', 318.0, 320.0, 360.0, 2.0, 40.0,
        0.0, 0.0, None),
    ]
EXPECTED_ALICE = [
    ('ready', 0, 10), ('ringing', 10, 13), ('talking', 13, 23),
    ('hold', 23, 38), ('talking', 38, 73), ('wrap_up', 73, 83),
    ('ready', 83, 100), ('ringing', 100, 103), ('talking', 103, 163),
    ('wrap_up', 163, 173), ('ringing', 173, 176), ('talking', 176, 206),
    ('wrap_up', 206, 216), ('ready', 216, 300), ('ringing', 300, 303),
    ('talking', 303, 330), ('wrap_up', 330, 340), ('ready', 340, 600)]
EXPECTED_BOB = [
    ('ready', 0, 101), ('ringing', 101, 104), ('talking', 104, 164),
    ('wrap_up', 164, 174), ('ringing', 174, 177), ('talking', 177, 207),
    ('wrap_up', 207, 217), ('ready', 217, 600)]


def calls(center, pbx):
    rows = center.query(f'SELECT {CALL_COLUMNS} FROM cc_call c '
        'LEFT JOIN cc_agent a ON a.id = c.agent '
        'LEFT JOIN party_party p ON p.id = c.party '
        'ORDER BY c.enter_time, c.id')
    return [tuple(row[:14]) + (bool(row[14]),) + tuple(row[15:18])
        + tuple(pbx.at(value) for value in row[18:]) for row in rows]


def legs(center, pbx):
    rows = center.query('SELECT c.caller_number, l.interface, l.result, '
        'l.ring_start, l.answer_time, l.end_time, l.ring_seconds, '
        'l.talk_seconds, l.hold_seconds, l.wrapup_seconds, '
        'l.transfer_target FROM cc_call_leg l JOIN cc_call c '
        'ON c.id = l.call ORDER BY c.enter_time, l.ring_start')
    return [row[:3] + tuple(pbx.at(value) for value in row[3:6]) + row[6:]
        for row in rows]


def intervals(center, pbx, interface):
    return [(state, pbx.at(start), pbx.at(end)) for state, start, end in
        center.query('SELECT state, start, "end" FROM cc_agent_state '
            'WHERE interface = ? ORDER BY start', interface)]


def ended_calls(center):
    """Calls ended and routed: the router stores its decisions from a
    writer thread, which retries (with backoff) when the bridge created
    the same call at the same moment."""
    return center.query("SELECT count(*) FROM cc_call WHERE state = 'ended'"
        " AND routed_at IS NOT NULL")[0][0]


@pytest.mark.parametrize('center', ['array', 'variables'], indirect=True)
def test_scripted_day(center):
    async def play():
        async with Pbx(center, DAY, start_time()) as pbx:
            for seconds, states in CHECKPOINTS:
                await pbx.to(seconds, states)
            await until(lambda: ended_calls(center) == len(EXPECTED_CALLS),
                'every call ended', explain=lambda: center.query(
                    'SELECT caller_number, state, routed_at, result '
                    'FROM cc_call ORDER BY id'))
            return pbx

    pbx = asyncio.run(play())
    assert calls(center, pbx) == EXPECTED_CALLS
    assert legs(center, pbx) == EXPECTED_LEGS
    assert intervals(center, pbx, ALICE) == EXPECTED_ALICE
    assert intervals(center, pbx, BOB) == EXPECTED_BOB
    # Each call once in the customers' contact history.
    assert center.query('SELECT count(*), count(DISTINCT origin) FROM '
        'cc_interaction WHERE origin LIKE ?', 'cc.call,%') == [(7, 7)]
    assert center.spooled() == 0


# -- AMI cut, malformed AMI frames and FastAGI requests ----------------------

MALFORMED_AMI = [
    b'this line has no colon\r\n\r\n',
    b'Event: \xff\xfe\xfa broken utf-8\r\nUniqueid: \xc3\r\n\r\n',
    b'Key: value without Event or Response\r\n\r\n',
    b'Event: Hangup\r\nUniqueid: 42.42\r\n\r\n',     # no Timestamp
    b'Event: AgentConnect\r\nTimestamp: soon\r\n\r\n',
    b'Event: QueueCallerJoin\r\nTimestamp: 1.0\r\n\r\n',  # keys missing
    b'X-Long: ' + b'a' * 70000 + b'\r\n\r\n',          # over 64 KiB
    ]
MALFORMED_AGI = [
    b'\r\n',                                           # empty environment
    b'agi_network: yes\nnot an agi line\n\n',          # no agi_request
    b'\xff\xfe\n\n',
    b'agi_request: agi://x/route\nagi_callerid: ' + b'9' * 100000 + b'\n\n',
    b'agi_request: agi://x/route\nagi_uniqueid: 1.1\n',  # cut, no blank
    ]


def send_agi(port, data):
    "Send a raw FastAGI request; return what the router answered."
    with socket.create_connection(('127.0.0.1', port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b''.join(chunks)


TWO_CALLS = login(0, ALICE) + [call(10, '13700000001', talk=60),
    call(200, '13700000002', talk=30)] + logout(400, ALICE)


def assert_two_calls_exact(center, pbx):
    "TWO_CALLS recorded as if nothing had happened to the services."
    assert [row[:5] + row[-3:] for row in calls(center, pbx)] == [
        ('+8613700000001', SERVICE, 'consult', 'answered', 'queue',
            10.0, 13.0, 73.0),
        ('+8613700000002', SERVICE, 'consult', 'answered', 'queue',
            200.0, 203.0, 233.0)]
    assert [row[:6] for row in legs(center, pbx)] == [
        ('+8613700000001', ALICE, 'completed', 10.0, 13.0, 73.0),
        ('+8613700000002', ALICE, 'completed', 200.0, 203.0, 233.0)]
    assert intervals(center, pbx, ALICE) == [
        ('ready', 0, 10), ('ringing', 10, 13), ('talking', 13, 73),
        ('wrap_up', 73, 83), ('ready', 83, 200), ('ringing', 200, 203),
        ('talking', 203, 233), ('wrap_up', 233, 243), ('ready', 243, 400)]


async def play_rest_of_two_calls(center, pbx):
    await pbx.to(150, {ALICE: 'ready'})
    await pbx.to(405, {ALICE: 'logged_out'})
    await until(lambda: ended_calls(center) == 2, 'both calls ended')


def test_ami_cut_and_malformed_input(center):
    async def play():
        async with Pbx(center, TWO_CALLS, start_time()) as pbx:
            await pbx.to(5, {ALICE: 'ready'})
            await pbx.to(20, {ALICE: 'talking'})
            for frame in MALFORMED_AMI:
                pbx.server.send_raw(frame)
            loop = asyncio.get_running_loop()
            for request in MALFORMED_AGI:
                await loop.run_in_executor(
                    None, send_agi, center.agi_port, request)
            # The AMI link is cut mid-call; the bridge reconnects.
            pbx.server.drop_clients()
            await pbx.bridge_logged_in()
            await play_rest_of_two_calls(center, pbx)
            return pbx

    assert_two_calls_exact(center, asyncio.run(play()))


@pytest.mark.parametrize('stop', ['SIGTERM', 'SIGKILL'])
def test_bridge_restart_mid_call(center, stop):
    """Stopped (a deployment) or killed mid-call, the bridge's successor
    takes over the call in progress from the state it left on disk."""
    async def play():
        async with Pbx(center, TWO_CALLS, start_time()) as pbx:
            await pbx.to(5, {ALICE: 'ready'})
            await pbx.to(20, {ALICE: 'talking'})
            if stop == 'SIGKILL':
                # Killed, it keeps what it checkpointed last: wait for a
                # checkpoint taken since the call was seen.
                seen = time.time()
                await until(lambda: center.state_saved_since(seen),
                    'bridge state checkpointed')
            assert center.terminate('bridge', getattr(signal, stop)) == (
                -signal.SIGKILL if stop == 'SIGKILL' else 0)
            await until(lambda: not pbx.server.clients, 'bridge gone')
            center.start_bridge()
            await pbx.bridge_logged_in()
            await play_rest_of_two_calls(center, pbx)
            return pbx

    assert_two_calls_exact(center, asyncio.run(play()))


# -- the database down mid-call -----------------------------------------------

class Outage:
    """Make the database unavailable to the services, then available.

    PostgreSQL: new connections are refused and the open ones killed.
    SQLite: another process holds the write lock (readers go on)."""

    def __init__(self, center):
        self.center = center
        self.uri = config.database_uri()
        self.lock = None

    def begin(self):
        if self.uri:
            self._postgresql(allow=False)
        else:
            import sqlite3
            self.lock = sqlite3.connect(testing.TestDatabase.sqlite_path(
                    self.center.database.name), isolation_level=None)
            self.lock.execute('BEGIN EXCLUSIVE')

    def end(self):
        if self.uri:
            self._postgresql(allow=True)
        else:
            self.lock.execute('ROLLBACK')
            self.lock.close()

    def _postgresql(self, allow):
        import psycopg
        from ccsuite import database
        name = self.center.database.name
        with psycopg.connect(database._pg_dsn(self.uri, 'postgres'),
                autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS '
                f'{"true" if allow else "false"}')
            if not allow:
                conn.execute('SELECT pg_terminate_backend(pid) FROM '
                    'pg_stat_activity WHERE datname = %s', (name,))


def test_database_down_mid_call(center):
    script = login(0, ALICE) + [call(10, '13700000001', talk=60),
        call(100, '13700000002', talk=30)] + logout(400, ALICE)
    outage = Outage(center)

    async def play():
        async with Pbx(center, script, start_time()) as pbx:
            await pbx.to(5, {ALICE: 'ready'})
            await pbx.to(20, {ALICE: 'talking'})
            outage.begin()
            try:
                # The first call ends, a second one runs from start to end.
                await pbx.to(150)
                await until(lambda: center.spooled() >= 2,
                    'facts spooled while the database is down')
            finally:
                outage.end()
            await pbx.to(405, {ALICE: 'logged_out'})
            await until(lambda: ended_calls(center) == 2
                and center.spooled() == 0, 'spool replayed')
            return pbx

    pbx = asyncio.run(play())
    rows = calls(center, pbx)
    # PostgreSQL down: the router cannot read, its fallback sends the
    # caller to the PBX's default queue and says why. SQLite locked: the
    # router reads Alice's last stored live state (talking since 13 s, the
    # bridge could not write the end of her call): all agents busy.
    second_reason = ('router_error' if config.database_uri()
        else 'service,busy')
    assert [row[:5] + (row[8],) + row[-3:] for row in rows] == [
        ('+8613700000001', SERVICE, 'consult', 'answered', 'queue',
            'service', 10.0, 13.0, 73.0),
        ('+8613700000002', SERVICE, 'consult', 'answered', 'queue',
            second_reason, 100.0, 103.0, 133.0)]
    assert [row[:6] + (row[9],) for row in legs(center, pbx)] == [
        ('+8613700000001', ALICE, 'completed', 10.0, 13.0, 73.0, 10.0),
        ('+8613700000002', ALICE, 'completed', 100.0, 103.0, 133.0, 10.0)]
    assert intervals(center, pbx, ALICE) == [
        ('ready', 0, 10), ('ringing', 10, 13), ('talking', 13, 73),
        ('wrap_up', 73, 83), ('ready', 83, 100), ('ringing', 100, 103),
        ('talking', 103, 133), ('wrap_up', 133, 143), ('ready', 143, 400)]
    assert center.query('SELECT count(*) FROM cc_interaction '
        'WHERE origin LIKE ?', 'cc.call,%') == [(2,)]


# -- the demo set-up --------------------------------------------------------------

def test_demo_telephony_is_idempotent(template_database, output_dir):
    database = template_database.clone(
        testing.unique_database_name('cc_tel_demo'))
    try:
        command = [sys.executable, '-m', 'ccsuite.demo_telephony',
            '--database', database.name]
        first = subprocess.run(command, env=child_environ(), cwd=ROOT,
            check=True, capture_output=True, text=True).stdout
        second = subprocess.run(command, env=child_environ(), cwd=ROOT,
            check=True, capture_output=True, text=True).stdout
        assert first.strip() == ('demo telephony: 5 cc.agent, '
            '2 cc.announcement, 3 cc.dnis, 3 cc.ivr.menu, 1 cc.pbx, '
            '3 cc.queue, 4 cc.skill')
        assert second.strip() == 'demo telephony: nothing to add'
        agents = database.query('SELECT a.interface, u.login FROM cc_agent a '
            'LEFT JOIN res_user u ON u.id = a."user" ORDER BY a.interface')
        assert agents[:3] == [('PJSIP/8001', 'agent'),
            ('PJSIP/8002', 'agent2'), ('PJSIP/8003', 'leader')]
        assert database.query('SELECT ami_port, agi_port FROM cc_pbx') == [
            (15038, 14573)]
    finally:
        database.drop()


if __name__ == '__main__':
    if sys.argv[1] == 'setup':
        config.apply_environ()
        setup_center(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
