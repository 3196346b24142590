"""What agents do on their desk phones, followed by the real bridge into
the database: transfers made on the phone are remembered for the agent's
wrap-up as console transfers are, and holding a call the agent's phone
placed puts the agent on hold.

The PBX simulator and its AMI server run in their own thread (test_console's
SimThread); the bridge's PbxLink follows them over TCP in that thread's
event loop. Its database work runs in the test's thread, which holds the
database (SQLite's in-memory database belongs to one thread)."""
import asyncio
import concurrent.futures
import datetime as dt
import queue
import tempfile
import time

from trytond.modules.cc_base.tests.tools import as_user
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME
from trytond.transaction import Transaction

from ..bridge import Database, PbxLink
from ..console import today_start
from ..pbxsim import scenario
from ..pbxsim.engine import Callee
from .test_callback import SnapshotSimTestCase

ALICE, BOB = 'PJSIP/1001', 'PJSIP/1002'
CALLER = '13800138000'
WRAPUP = 10
SETTLE_SECONDS = 10


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class CallerThreadExecutor(concurrent.futures.Executor):
    "Runs the work submitted to it in the test's thread, when it drains."

    def __init__(self):
        self.jobs = queue.SimpleQueue()

    def submit(self, function, *args, **kwargs):
        future = concurrent.futures.Future()
        self.jobs.put((future, function, args, kwargs))
        return future

    def drain(self):
        while not self.jobs.empty():
            future, function, args, kwargs = self.jobs.get()
            try:
                future.set_result(function(*args, **kwargs))
            except Exception as error:
                future.set_exception(error)


class PhoneTestCase(SnapshotSimTestCase):
    "Transfers and holds made on the phone, through the bridge"

    def setUp(self):
        super().setUp()
        # Inside today as the console sees it (the wrap-up looks at today's
        # calls), and not after the real time (the wrap-up compares call
        # times with it).
        now = utcnow().replace(microsecond=0)
        with Transaction().start(DB_NAME, 0):
            today = today_start()
        self.start = max(now - dt.timedelta(minutes=10), today)
        self.pbx_sim.sim.now = self.start
        self.pbx_sim.sim.callees[CALLER] = Callee(answer=4, talk=60)
        self.agents = self.setup_center()
        self.executor = CallerThreadExecutor()
        self.link = self.start_bridge()

    def setup_center(self):
        "Alice and Bob (users alice and bob) in sales; returns their ids."
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            User = pool.get('res.user')
            ModelData = pool.get('ir.model.data')
            group = ModelData.get_id('cc_base', 'group_cc_agent')
            users = User.create([{'name': name, 'login': name.lower(),
                        'groups': [('add', [group])]}
                    for name in ("Alice", "Bob")])
            pbx, = pool.get('cc.pbx').create([{'name': "Sim", 'code': 'sim',
                        'ami_host': '127.0.0.1',
                        'ami_port': self.pbx_sim.port,
                        'ami_username': 'cc', 'ami_secret': 'secret'}])
            sales, = pool.get('cc.queue').create([{'name': "Sales",
                        'code': 'sales', 'pbx': pbx.id}])
            agents = pool.get('cc.agent').create([{'interface': interface,
                        'extension': interface[-4:], 'user': user.id,
                        'wrapup_seconds': WRAPUP,
                        'memberships': [('create', [{'queue': sales.id}])]}
                    for interface, user in zip((ALICE, BOB), users)])
            transaction.commit()
            return {a.interface: a.id for a in agents}

    def start_bridge(self):
        "The bridge's link to the simulator, connected and resynchronised."
        settings, = Database(DB_NAME).pbxs('sim')
        spool = tempfile.TemporaryDirectory()
        self.addCleanup(spool.cleanup)

        async def connect():
            link = PbxLink(settings, Database(DB_NAME), self.executor,
                spool.name, clock_speed=0,
                wrapups={ALICE: WRAPUP, BOB: WRAPUP})
            link.client.start()
            await asyncio.wait_for(link.client.connected.wait(), 5)
            return link
        link = self.pbx_sim.call(connect())
        self.addCleanup(self.stop_bridge, link)
        return link

    def stop_bridge(self, link):
        self.pbx_sim.call(link.client.close())
        link.sink.close()

    def run_in_sim(self, function, *args):
        "Call ``function`` in the simulator's thread; return its result."
        async def call():
            return function(*args)
        return self.pbx_sim.call(call())

    def play(self, steps, until):
        """Play scenario steps (times from the start) up to ``until``
        seconds, then let the bridge store everything it followed."""
        sim = self.pbx_sim.sim
        for step in steps:
            offset = (self.start - sim.now).total_seconds()
            self.run_in_sim(scenario.schedule_step, sim,
                dict(step, at=step['at'] + offset))
        self.pbx_sim.call(sim.advance_to(
                self.start + dt.timedelta(seconds=until)))
        # Every event up to now reaches the bridge before this one; it
        # also moves the bridge's clock, which follows event times.
        self.run_in_sim(sim.emit, 'TestClock')
        self.wait(lambda: self.link.tracker.heard == sim.now)
        self.wait(lambda: not (self.link.pops.busy or self.link.pops.waiting))
        flushed = asyncio.run_coroutine_threadsafe(self.link.flush(),
            self.pbx_sim.loop)
        self.wait(flushed.done)
        flushed.result()

    def wait(self, condition):
        "Wait for ``condition``, doing the bridge's database work meanwhile."
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            self.executor.drain()
            if condition():
                return
            if time.monotonic() > deadline:
                self.fail('the bridge did not catch up')
            time.sleep(0.01)

    def seconds(self, moment):
        return round((moment - self.start).total_seconds(), 1)

    def states(self, interface):
        State = Pool().get('cc.agent.state')
        return [(s.state, self.seconds(s.start), self.seconds(s.end))
            for s in State.search([('interface', '=', interface)],
                order=[('start', 'ASC')])]

    # -- transfers -----------------------------------------------------------

    def transfer_on_phone(self, transfer, handed_over):
        """Alice answers a caller at 13 and transfers them to Bob from her
        phone at 28; her wrap-up, done once Bob has the caller
        (``handed_over`` s), is for that call, which is stored with her
        leg transferred to where it went. Returns how her leg ended:
        result, transfer target and end (s)."""
        logins = [{'at': 0, 'do': 'login', 'queue': 'sales', 'agent': agent}
            for agent in (ALICE, BOB)]
        self.play(logins + [{'at': 10, 'do': 'call', 'caller': CALLER,
                        'queue': 'sales', 'talk': 600, 'transfer': {
                            'at': 15, 'target': '1002', 'after': 30,
                            **transfer}}], handed_over)
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            Agent = pool.get('cc.agent')
            Disposition = pool.get('cc.call.disposition')
            follow_up, = Disposition.search([('code', '=', 'follow_up')])
            alice, bob = Agent.browse([self.agents[ALICE], self.agents[BOB]])
            call = alice.wrapup_call
            self.assertEqual((call.state, call.agent), ('live', bob))
            self.assertEqual(call.caller_raw, CALLER)
            with as_user(alice.user):
                self.assertEqual(
                    Agent.wrap_up([alice], follow_up.id, "Sent to Bob"),
                    [call.id])
            transaction.commit()
            call_id = call.id

        self.play([], handed_over + 60)
        with Transaction().start(DB_NAME, 0):
            pool = Pool()
            Call = pool.get('cc.call')
            call = Call(call_id)
            self.assertEqual((call.state, call.result),
                ('ended', 'transferred'))
            legs = {leg.agent.interface: leg for leg in call.legs}
            self.assertEqual(set(legs), {ALICE, BOB})
            alice = pool.get('cc.agent')(self.agents[ALICE])
            self.assertIsNone(alice.wrapup_call)
            leg = legs[ALICE]
            self.assertEqual((leg.disposition.code, leg.wrapup_note),
                ('follow_up', "Sent to Bob"))
            self.assertIsNone(legs[BOB].disposition)
            return (leg.result, leg.transfer_target,
                self.seconds(leg.end_time))

    def test_blind_transfer_on_phone(self):
        "A blind transfer on the phone is remembered for the wrap-up"
        self.assertEqual(
            self.transfer_on_phone({'kind': 'blind'}, handed_over=35),
            ('transferred_blind', '1002', 28.0))

    def test_attended_transfer_on_phone(self):
        "An attended transfer on the phone is remembered for the wrap-up"
        # Bob answers the consultation at 30; Alice hands over at 40.
        self.assertEqual(self.transfer_on_phone(
                {'kind': 'attended', 'consult': 10}, handed_over=45),
            ('transferred_attended', BOB, 40.0))

    # -- hold ----------------------------------------------------------------

    def test_hold_on_call_the_agent_placed(self):
        "Holding a call the agent's phone placed puts the agent on hold"
        self.play([{'at': 0, 'do': 'login', 'queue': 'sales',
                        'agent': ALICE}], 5)
        with Transaction().start(DB_NAME, 0):
            Agent = Pool().get('cc.agent')
            alice = Agent(self.agents[ALICE])
            with as_user(alice.user):
                # Click-to-dial: Alice's phone rings 3 s, then dials the
                # customer, who answers 4 s later and talks 60 s.
                Agent.dial([alice], CALLER)
        self.play([{'at': 20, 'do': 'hold', 'phone': ALICE}], 25)
        with Transaction().start(DB_NAME, 0):
            self.assertEqual(
                Pool().get('cc.agent')(self.agents[ALICE]).state, 'hold')
        self.play([{'at': 32, 'do': 'unhold', 'phone': ALICE}], 100)
        with Transaction().start(DB_NAME, 0):
            self.assertEqual(self.states(ALICE), [
                    ('ready', 0.0, 5.0),
                    ('ringing', 5.0, 8.0),
                    ('talking', 8.0, 20.0),
                    ('hold', 20.0, 32.0),
                    ('talking', 32.0, 72.0),
                    ('wrap_up', 72.0, 72.0 + WRAPUP),
                    ])
