"""Console actions and screen pops, against the PBX simulator over TCP.

The simulator runs in its own thread and event loop on an ephemeral port;
the console connects to it as it would to Asterisk. After each action the
events the simulator emitted (and its state) show what the PBX did.
"""
import asyncio
import concurrent.futures
import datetime as dt
import json
import threading
import unittest
from contextlib import contextmanager
from types import SimpleNamespace

from trytond.exceptions import UserError
from trytond.modules.cc_base.tests.tools import as_user
from trytond.model.exceptions import AccessError
from trytond.model.modelview import AccessButtonError
from trytond.pool import Pool
from trytond.transaction import Transaction
from trytond.tests.test_tryton import (
    TestCase, activate_module, with_transaction)

from .. import amiaction
from ..pbxsim.engine import CallPlan, Simulator
from ..pbxsim.server import AMIServer
from ..screenpop import PopQueue, connection_of, on_bridge_event
from ..tracker import Tracker

ALICE, BOB, SUPERVISOR = 'PJSIP/1001', 'PJSIP/1002', 'PJSIP/1009'
CALLER = '13800138000'


class ConsoleAMIServer(AMIServer):
    """pbxsim's AMI server, recording the actions it gets, plus PJSIPNotify.

    Asterisk answers and holds through the phone (SIP NOTIFY ``Event:
    talk`` / ``hold``); pbxsim has no phones, so this answers the ringing
    leg or emits Hold/Unhold with the engine's own methods."""

    def __init__(self, simulator, users):
        super().__init__(simulator, users)
        self.received = []
        self.held = set()
        self.globals = {}
        self.muted = {}
        self.monitors = {}

    def _named_channel(self, action, writer, reply):
        channel = self.sim.channel_named(action.get('Channel', ''))
        if channel is None:
            self._error(writer, reply, 'No such channel')
        return channel

    def _action_muteaudio(self, action, writer, reply):
        channel = self._named_channel(action, writer, reply)
        if channel is not None:
            self.muted[(channel.name, action['Direction'])] = (
                action['State'] == 'on')
            self._ok(writer, reply, 'Audio muted' if action['State'] == 'on'
                else 'Audio unmuted')

    def _action_mixmonitor(self, action, writer, reply):
        channel = self._named_channel(action, writer, reply)
        if channel is not None:
            self.monitors[channel.name] = action['File']
            self._ok(writer, reply, MixMonitorID='0x1')

    def _action_stopmixmonitor(self, action, writer, reply):
        channel = self._named_channel(action, writer, reply)
        if channel is not None:
            self.monitors.pop(channel.name, None)
            self._ok(writer, reply)

    def _action_getvar(self, action, writer, reply):
        variable = action['Variable']
        if 'Channel' not in action:
            self._ok(writer, reply, Variable=variable,
                Value=self.globals.get(variable, ''))
            return
        channel = self._named_channel(action, writer, reply)
        if channel is not None:
            self._ok(writer, reply, Variable=variable,
                Value=channel.variables.get(variable, ''))

    def _action_setvar(self, action, writer, reply):
        channel = self._named_channel(action, writer, reply)
        if channel is not None:
            channel.variables[action['Variable']] = action.get('Value', '')
            self._ok(writer, reply, 'Variable Set')

    def _perform(self, action, writer):
        self.received.append(dict(action))
        return super()._perform(action, writer)

    def _action_pjsipnotify(self, action, writer, reply):
        device = 'PJSIP/' + action.get('Endpoint', '')
        event = action.get('Variable', '').partition('=')[2]
        for caller in list(self.sim.callers.values()):
            for leg in list(caller.ringing.values()):
                if leg.phone.name.startswith(device + '-') and (
                        event == 'talk'):
                    self.sim.answer(caller, leg)
                    return self._ok(writer, reply, 'NOTIFY sent')
        # The phone's hold key; 'talk' on a phone in a call takes it back.
        on = {'hold': True, 'talk': False}.get(event)
        if on is not None and (on == (device in self.held)
                or self.sim.phone_hold(device, on)):
            (self.held.add if on else self.held.discard)(device)
            return self._ok(writer, reply, 'NOTIFY sent')
        self._error(writer, reply, 'Unable to send NOTIFY')


class SimThread:
    "A Simulator and its AMI server in a background event loop."

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever,
            daemon=True)
        self.thread.start()
        self.sim = Simulator()
        self.sim.add_queue('sales', strategy='linear', timeout=15)
        self.events = []
        self.sim.listeners.append(self.events.append)
        self.server = ConsoleAMIServer(self.sim, {'cc': 'secret'})
        self.port = self.call(self.server.start())

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(
            coroutine, self.loop).result(10)

    def advance(self, seconds):
        self.call(self.sim.advance(seconds))

    def arrive(self, **plan):
        return self.call(self.sim.arrive(CallPlan(**plan)))

    def stop(self):
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def named(self, name, **headers):
        "Events called ``name`` whose headers include ``headers``."
        return [e for e in self.events if e['Event'] == name
            and all(e.get(k) == v for k, v in headers.items())]

    def actions(self, name):
        return [a for a in self.server.received if a.get('Action') == name]


class ConsoleTestCase(TestCase):
    "Test the agent and supervisor console against the PBX simulator"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_telephony')

    def setUp(self):
        super().setUp()
        self.pbx_sim = SimThread()
        self.addCleanup(self.pbx_sim.stop)

    def setup_center(self, port=None, secret='secret'):
        pool = Pool()
        User = pool.get('res.user')
        Group = pool.get('res.group')
        ModelData = pool.get('ir.model.data')
        Pbx = pool.get('cc.pbx')
        Queue = pool.get('cc.queue')
        Agent = pool.get('cc.agent')
        agent_group = Group(ModelData.get_id('cc_base', 'group_cc_agent'))
        supervisor_group = Group(
            ModelData.get_id('cc_base', 'group_cc_supervisor'))
        alice, bob, boss = User.create([
                {'name': "Alice", 'login': 'alice',
                    'groups': [('add', [agent_group.id])]},
                {'name': "Bob", 'login': 'bob',
                    'groups': [('add', [agent_group.id])]},
                {'name': "Boss", 'login': 'boss',
                    'groups': [('add', [supervisor_group.id])]},
                ])
        pbx, = Pbx.create([{'name': "Sim", 'code': 'sim',
                    'ami_host': '127.0.0.1',
                    'ami_port': port or self.pbx_sim.port,
                    'ami_username': 'cc', 'ami_secret': secret}])
        sales, = Queue.create([{'name': "Sales", 'code': 'sales',
                    'pbx': pbx.id}])
        agents = Agent.create([
                {'interface': ALICE, 'extension': '1001', 'user': alice.id,
                    'memberships': [('create', [
                                {'queue': sales.id, 'penalty': 2}])]},
                {'interface': BOB, 'extension': '1002', 'user': bob.id,
                    'memberships': [('create', [{'queue': sales.id}])]},
                {'interface': SUPERVISOR, 'extension': '1009',
                    'user': boss.id},
                ])
        return (alice, bob, boss), agents

    def member(self, interface):
        return self.pbx_sim.sim.members.get(interface)

    def talking_call(self, agent):
        "Sign the agent in and let a caller reach them."
        Agent = Pool().get('cc.agent')
        Agent.sign_in([agent])
        self.pbx_sim.arrive(caller=CALLER, queue='sales', talk=600)
        self.pbx_sim.advance(4)
        self.assertTrue(self.pbx_sim.named('AgentConnect',
                Interface=agent.interface))

    # -- queues and readiness --------------------------------------------

    @with_transaction()
    def test_sign_in_and_out(self):
        "Sign in adds the agent to their queues, sign out removes them"
        Agent = Pool().get('cc.agent')
        (alice, _, _), (agent, _, _) = self.setup_center()

        with as_user(alice):
            Agent.sign_in([agent])
            Agent.sign_in([agent])  # Already there: nothing breaks.

        membership = self.member(ALICE).memberships['sales']
        self.assertEqual(membership.penalty, 2)
        added, = self.pbx_sim.named('QueueMemberAdded', Interface=ALICE)
        self.assertEqual(added['StateInterface'], ALICE)

        with as_user(alice):
            Agent.sign_out([agent])
        self.assertEqual(self.member(ALICE).memberships, {})
        self.assertTrue(self.pbx_sim.named('QueueMemberRemoved',
                Interface=ALICE, Queue='sales'))
        with as_user(alice), self.assertRaisesRegex(
                UserError, 'not signed in'):
            Agent.sign_out([agent])

    @with_transaction()
    def test_ready_not_ready(self):
        "Not ready pauses with the reason code, ready unpauses"
        Agent = Pool().get('cc.agent')
        (alice, _, _), (agent, _, _) = self.setup_center()

        with as_user(alice), self.assertRaisesRegex(
                UserError, 'not signed in'):
            Agent.not_ready([agent], 'break')

        with as_user(alice):
            Agent.sign_in([agent])
            Agent.not_ready([agent], 'break')
        pause, = self.pbx_sim.named('QueueMemberPause', Interface=ALICE)
        self.assertEqual((pause['Paused'], pause['PausedReason']),
            ('1', 'break'))

        with as_user(alice):
            Agent.ready([agent])
        self.assertEqual(self.pbx_sim.named('QueueMemberPause',
                Interface=ALICE)[-1]['Paused'], '0')
        with as_user(alice), self.assertRaisesRegex(
                UserError, 'not a not-ready reason'):
            Agent.not_ready([agent], 'nap')

    @with_transaction()
    def test_own_phone_only(self):
        "An agent cannot act on a colleague's phone"
        Agent = Pool().get('cc.agent')
        (alice, _, _), (_, bob_agent, _) = self.setup_center()

        with as_user(alice), self.assertRaises(AccessError):
            Agent.sign_in([bob_agent])
        self.assertIsNone(self.member(BOB))

    @with_transaction()
    def test_pbx_unreachable(self):
        "A PBX that does not answer gives a clear error"
        Agent = Pool().get('cc.agent')
        port = self.pbx_sim.port
        self.pbx_sim.call(self.pbx_sim.server.stop())
        (alice, _, _), (agent, _, _) = self.setup_center(port=port)

        with as_user(alice), self.assertRaisesRegex(
                UserError, 'cannot be reached'):
            Agent.sign_in([agent])

    @with_transaction()
    def test_pbx_refuses_login(self):
        "A wrong AMI secret is reported as the PBX's refusal"
        Agent = Pool().get('cc.agent')
        (alice, _, _), (agent, _, _) = self.setup_center(secret='wrong')

        with as_user(alice), self.assertRaisesRegex(
                UserError, 'Authentication failed'):
            Agent.sign_in([agent])
        self.assertIsNone(self.member(ALICE))

    # -- the call --------------------------------------------------------

    @with_transaction()
    def test_answer_hold_hangup(self):
        "Answer, hold, resume and hang up a queue call"
        Agent = Pool().get('cc.agent')
        (alice, _, _), (agent, _, _) = self.setup_center()
        with as_user(alice):
            Agent.sign_in([agent])
        self.pbx_sim.arrive(caller=CALLER, queue='sales', talk=600,
            answer_delay={ALICE: 300})
        self.pbx_sim.advance(1)
        self.assertTrue(self.pbx_sim.named('AgentCalled', Interface=ALICE))
        with as_user(alice), self.assertRaisesRegex(
                UserError, 'no call in progress'):
            Agent.hold([agent])

        with as_user(alice):
            Agent.answer([agent])
        self.assertTrue(self.pbx_sim.named('AgentConnect', Interface=ALICE))

        with as_user(alice):
            Agent.hold([agent])
            Agent.unhold([agent])
        hold, = self.pbx_sim.named('Hold')
        self.assertTrue(hold['Channel'].startswith(ALICE + '-'))
        self.assertEqual(len(self.pbx_sim.named('Unhold')), 1)

        with as_user(alice):
            Agent.hangup([agent])
        self.assertTrue(self.pbx_sim.named('AgentComplete', Interface=ALICE))
        self.assertEqual(self.pbx_sim.sim.callers, {})
        with as_user(alice), self.assertRaisesRegex(
                UserError, 'no call in progress'):
            Agent.hangup([agent])

    @with_transaction()
    def test_blind_transfer(self):
        "A blind transfer to a colleague hands the caller over"
        Agent = Pool().get('cc.agent')
        (alice, _, _), (agent, bob_agent, _) = self.setup_center()
        with as_user(alice):
            self.talking_call(agent)
            Agent.transfer([agent], 'agent', bob_agent.id)

        transfer, = self.pbx_sim.named('BlindTransfer')
        self.assertEqual(transfer['Extension'], '1002')
        self.assertTrue(
            transfer['TransfererChannel'].startswith(ALICE + '-'))
        action, = self.pbx_sim.actions('BlindTransfer')
        self.assertEqual(action['Context'], 'from-internal')

    @with_transaction()
    def test_transfer_to_queue(self):
        "A transfer to a queue dials its code in the queue context"
        pool = Pool()
        Agent = pool.get('cc.agent')
        Queue = pool.get('cc.queue')
        (alice, _, _), (agent, _, _) = self.setup_center()
        sales, = Queue.search([('code', '=', 'sales')])
        with as_user(alice):
            self.talking_call(agent)
            Agent.transfer([agent], 'queue', sales.id)
        action, = self.pbx_sim.actions('BlindTransfer')
        self.assertEqual((action['Context'], action['Exten']),
            ('cc-queue', 'sales'))

    @with_transaction()
    def test_attended_transfer(self):
        "Consult then transfer to an external number (Atxfer)"
        Agent = Pool().get('cc.agent')
        (alice, _, _), (agent, _, _) = self.setup_center()
        with as_user(alice):
            self.talking_call(agent)
            Agent.consult([agent], 'number', '+86 10 6552 9999')
        action, = self.pbx_sim.actions('Atxfer')
        self.assertEqual(action['Exten'], '01065529999')
        self.pbx_sim.advance(15)
        transfer, = self.pbx_sim.named('AttendedTransfer')
        self.assertTrue(
            transfer['OrigTransfererChannel'].startswith(ALICE + '-'))

    @with_transaction()
    def test_conference(self):
        "A conference moves both sides to a room and calls the third"
        Agent = Pool().get('cc.agent')
        (alice, _, _), (agent, _, _) = self.setup_center()
        with as_user(alice):
            self.talking_call(agent)
            Agent.conference([agent], 'number', '2000')
        redirect, = self.pbx_sim.actions('Redirect')
        self.assertTrue(redirect['ExtraChannel'].startswith(ALICE + '-'))
        self.assertEqual(redirect['Channel'].split('-')[0], 'PJSIP/trunk')
        self.assertEqual(redirect['Exten'], redirect['ExtraExten'])
        originate, = self.pbx_sim.actions('Originate')
        self.assertEqual(originate['Channel'], 'Local/2000@from-internal')
        self.assertEqual(originate['Exten'], redirect['Exten'])
        self.assertEqual(originate['Context'], 'cc-conference')

    @with_transaction()
    def test_click_to_dial(self):
        "Calling a customer rings the agent's phone, then their number"
        pool = Pool()
        Party = pool.get('party.party')
        (alice, _, _), _ = self.setup_center()
        party, = Party.create([{'name': "张三",
                    'contact_mechanisms': [('create', [{
                                    'type': 'mobile', 'value': CALLER}])]}])
        with as_user(alice):
            Party.cc_dial([party])
        originate, = self.pbx_sim.actions('Originate')
        self.assertEqual((originate['Channel'], originate['Exten'],
                originate['Async']), (ALICE, CALLER, 'true'))
        self.assertTrue(originate['ChannelId'])
        self.assertTrue(self.pbx_sim.named('Newchannel', Exten=CALLER))

        nobody, = Party.create([{'name': "No Phone"}])
        with as_user(alice), self.assertRaisesRegex(
                UserError, 'no phone number'):
            Party.cc_dial([nobody])

    @with_transaction()
    def test_dial_typed_number(self):
        "The console's Dial wizard dials a typed number, normalised"
        pool = Pool()
        Dial = pool.get('cc.agent.dial', type='wizard')
        (alice, _, _), (agent, _, _) = self.setup_center()

        def dial(number):
            with as_user(alice), Transaction().set_context(
                    active_model='cc.agent', active_id=agent.id,
                    active_ids=[agent.id]):
                session_id, _, _ = Dial.create()
                Dial.execute(session_id, {'start': {'number': number}},
                    'dial')
                Dial.delete(session_id)
            return self.pbx_sim.actions('Originate')[-1]

        for typed, dialled in [
                ('138 0013 8000', CALLER),
                ('+86 (10) 6552-9999', '01065529999'),
                ('+44 20 7946 0018', '00442079460018'),
                ('2000', '2000'),
                ]:
            originate = dial(typed)
            self.assertEqual((originate['Channel'], originate['Exten']),
                (ALICE, dialled))
        sent = len(self.pbx_sim.actions('Originate'))
        for typed in ['138-0013-800O', '123456789', '+1 555', 'ext 12']:
            with self.assertRaisesRegex(UserError, 'cannot be dialled'):
                dial(typed)
        with self.assertRaisesRegex(UserError, 'no number to dial'):
            dial(' - ')
        self.assertEqual(len(self.pbx_sim.actions('Originate')), sent)

    # -- wrap-up ---------------------------------------------------------

    @with_transaction()
    def test_wrap_up(self):
        "Wrap-up records the disposition and makes the agent ready"
        pool = Pool()
        Agent = pool.get('cc.agent')
        Call = pool.get('cc.call')
        Disposition = pool.get('cc.call.disposition')
        (alice, _, _), (agent, _, _) = self.setup_center()
        resolved, = Disposition.search([('code', '=', 'resolved')])
        with as_user(alice), self.assertRaisesRegex(
                UserError, 'no call today'):
            Agent.wrap_up([agent], resolved.id)

        call_id, = Call.agent_connected([connection()])
        Agent.write([agent], {'state': 'wrap_up'})
        with as_user(alice):
            Agent.sign_in([agent])
            Agent.wrap_up([agent], resolved.id, "Card unblocked")
        call = Call(call_id)
        self.assertEqual(call.disposition, resolved)
        self.assertEqual(call.wrapup_note, "Card unblocked")
        self.assertEqual(self.pbx_sim.named('QueueMemberPause',
                Interface=ALICE)[-1]['Paused'], '0')

    def transferred_call(self, uniqueid='x1', live=False):
        """A call Alice answered and blind-transferred to Bob, who finished
        it: stored by the tracker's fact (both legs), or still live."""
        Call = Pool().get('cc.call')
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        t = lambda s: now - dt.timedelta(seconds=s)  # noqa: E731
        legs = [
            {'agent_interface': ALICE, 'ring_start': t(100),
                'answer_time': t(98), 'end_time': t(60), 'talk_seconds': 38,
                'result': 'transferred_blind', 'transfer_target': '1002'},
            {'agent_interface': BOB, 'ring_start': t(60),
                'answer_time': t(57), 'end_time': t(10), 'talk_seconds': 47,
                'result': 'answered'},
            ]
        if live:
            Call.agent_connected([connection(uniqueid=uniqueid,
                        answer_time=t(98))])
            Call.agent_connected([connection(uniqueid=uniqueid,
                        interface=BOB, answer_time=t(57))])
            return legs, Call.search([('uniqueid', '=', uniqueid)])[0].id
        call_id, = Call.ingest_facts([{
                    'uniqueid': uniqueid, 'linkedid': uniqueid,
                    'direction': 'inbound', 'caller_raw': CALLER,
                    'dnis': '95588', 'queue': 'sales',
                    'enter_time': t(110), 'answer_time': t(98),
                    'end_time': t(10), 'result': 'transferred',
                    'wait_seconds': 12, 'legs': legs}])
        return legs, call_id

    @with_transaction()
    def test_wrap_up_transferred_call(self):
        "Each agent of a transferred call wraps up their own leg"
        pool = Pool()
        Agent = pool.get('cc.agent')
        Call = pool.get('cc.call')
        Disposition = pool.get('cc.call.disposition')
        (alice, bob, _), (agent, bob_agent, _) = self.setup_center()
        resolved, = Disposition.search([('code', '=', 'resolved')])
        follow_up, = Disposition.search([('code', '=', 'follow_up')])
        # Bob's earlier call today: not the one he wraps up now.
        Call.agent_connected([connection(uniqueid='old', interface=BOB,
                    answer_time=dt.datetime.now(dt.timezone.utc).replace(
                        tzinfo=None) - dt.timedelta(hours=1))])
        Call.write(Call.search([('uniqueid', '=', 'old')]),
            {'state': 'ended'})
        _, call_id = self.transferred_call()

        with as_user(alice):
            self.assertEqual(
                Agent.wrap_up([agent], follow_up.id, "Sent to billing"),
                [call_id])
        with as_user(bob):
            self.assertEqual(Agent.wrap_up([bob_agent], resolved.id, "Done"),
                [call_id])

        call = Call(call_id)
        legs = {leg.agent: leg for leg in call.legs}
        self.assertEqual((legs[agent].disposition, legs[agent].wrapup_note),
            (follow_up, "Sent to billing"))
        self.assertEqual(
            (legs[bob_agent].disposition, legs[bob_agent].wrapup_note),
            (resolved, "Done"))
        # The call shows the last wrap-up done.
        self.assertEqual((call.disposition, call.wrapup_note),
            (resolved, "Done"))
        old, = Call.search([('uniqueid', '=', 'old')])
        self.assertIsNone(old.disposition)

    @with_transaction()
    def test_wrap_up_transferred_away_live(self):
        "A leg transferred away while the call lives gets its wrap-up later"
        pool = Pool()
        Agent = pool.get('cc.agent')
        Call = pool.get('cc.call')
        Disposition = pool.get('cc.call.disposition')
        (alice, bob, _), (agent, bob_agent, _) = self.setup_center()
        follow_up, = Disposition.search([('code', '=', 'follow_up')])
        resolved, = Disposition.search([('code', '=', 'resolved')])
        # Alice's earlier call today, stored with her leg.
        self.transferred_call(uniqueid='earlier')
        # Alice answers a new call and transfers it from her console.
        with as_user(alice):
            self.talking_call(agent)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        call_id, = Call.agent_connected([connection(uniqueid='now',
                    answer_time=now)])
        with as_user(alice):
            Agent.transfer([agent], 'agent', bob_agent.id)
        Call.agent_connected([connection(uniqueid='now', interface=BOB,
                    answer_time=now)])
        self.assertEqual(Call(call_id).agent, bob_agent)

        with as_user(alice):
            self.assertEqual(Agent.wrap_up([agent], resolved.id),
                [call_id])
            # Corrected: the same call again.
            self.assertEqual(Agent.wrap_up([agent], follow_up.id, "Later"),
                [call_id])
        earlier, = Call.search([('uniqueid', '=', 'earlier')])
        self.assertEqual(
            [leg.disposition for leg in earlier.legs if leg.agent == agent],
            [None])

        # The call ends; Bob wraps up before the tracker stores it.
        with as_user(bob):
            Agent.wrap_up([bob_agent], resolved.id)
        t = lambda s: now + dt.timedelta(seconds=s)  # noqa: E731
        Call.ingest_facts([{'uniqueid': 'now', 'linkedid': 'now',
                    'direction': 'inbound', 'caller_raw': CALLER,
                    'dnis': '95588', 'queue': 'sales', 'enter_time': t(-10),
                    'answer_time': now, 'end_time': t(90),
                    'result': 'transferred', 'wait_seconds': 5, 'legs': [
                        {'agent_interface': ALICE, 'ring_start': t(-2),
                            'answer_time': now, 'end_time': t(30),
                            'result': 'transferred_blind'},
                        {'agent_interface': BOB, 'ring_start': t(30),
                            'answer_time': t(32), 'end_time': t(90),
                            'result': 'answered'}]}])
        legs = {leg.agent: leg for leg in Call(call_id).legs}
        self.assertEqual((legs[agent].disposition, legs[agent].wrapup_note),
            (follow_up, "Later"))
        self.assertEqual(legs[bob_agent].disposition, resolved)
        self.assertIsNone(Agent(agent.id).wrapup_call)

    @with_transaction()
    def test_wrap_up_wizard_shows_call(self):
        "The wrap-up wizard says which call and caller it is for"
        WrapUp = Pool().get('cc.agent.wrap_up', type='wizard')
        (alice, _, _), (agent, _, _) = self.setup_center()
        _, call_id = self.transferred_call()
        with as_user(alice), Transaction().set_context(
                active_model='cc.agent', active_id=agent.id,
                active_ids=[agent.id]):
            session_id, _, _ = WrapUp.create()
            wizard = WrapUp(session_id)
            values = wizard.default_start(None)
        self.assertEqual((values['call'], values['caller']),
            (call_id, '+86' + CALLER))
        self.assertNotIn('disposition', values)

    # -- supervisor ------------------------------------------------------

    @with_transaction()
    def test_spy(self):
        "Listen, whisper and barge ring the supervisor into ChanSpy"
        Agent = Pool().get('cc.agent')
        (alice, _, boss), (agent, _, _) = self.setup_center()
        with as_user(alice):
            self.talking_call(agent)
            with self.assertRaises(UserError):
                Agent.listen([agent])
            with self.assertRaises(AccessError):
                Agent.spy([agent], 'listen')
        with as_user(boss):
            for mode in ['listen', 'whisper', 'barge']:
                Agent.spy([agent], mode)
        data = [(a['Channel'], a['Application'], a['Data'])
            for a in self.pbx_sim.actions('Originate')]
        self.assertEqual(data, [
                (SUPERVISOR, 'ChanSpy', f'{ALICE},qE'),
                (SUPERVISOR, 'ChanSpy', f'{ALICE},qwE'),
                (SUPERVISOR, 'ChanSpy', f'{ALICE},qBE'),
                ])
        spies = [e for e in self.pbx_sim.events if e['Event'] == 'Newchannel'
            and e['Channel'].startswith(SUPERVISOR + '-')]
        self.assertEqual(len(spies), 3)

    @with_transaction()
    def test_force_not_ready_and_sign_out(self):
        "A supervisor forces an agent not ready, then out of the queues"
        Agent = Pool().get('cc.agent')
        (alice, bob, boss), (agent, _, _) = self.setup_center()
        with as_user(alice):
            Agent.sign_in([agent])
        with as_user(bob), self.assertRaises(AccessError):
            Agent.force_not_ready([agent], 'meeting')

        with as_user(boss):
            Agent.force_not_ready([agent], 'meeting')
        pause, = self.pbx_sim.named('QueueMemberPause', Interface=ALICE)
        self.assertEqual(pause['PausedReason'], 'meeting')
        with as_user(boss):
            Agent.force_sign_out([agent])
        self.assertEqual(self.member(ALICE).memberships, {})

    @with_transaction()
    def test_force_hangup(self):
        "A supervisor hangs up an agent's call (Hangup of its channel)"
        pool = Pool()
        Agent = pool.get('cc.agent')
        AgentBoard = pool.get('cc.agent.board')
        (alice, bob, boss), (agent, _, _) = self.setup_center()
        with as_user(alice):
            self.talking_call(agent)
        for user in [alice, bob]:
            # Refused by the button's group, then by _check_supervisor.
            with as_user(user), self.assertRaises(
                    (AccessError, AccessButtonError)):
                Agent.force_hangup([agent])
            with as_user(user), Transaction().set_context(
                    _check_access=False), self.assertRaises(AccessError):
                Agent.force_hangup([agent])
        self.assertEqual(self.pbx_sim.actions('Hangup'), [])

        with as_user(boss):
            AgentBoard.force_hangup(AgentBoard.browse([agent.id]))
        hangup, = self.pbx_sim.actions('Hangup')
        self.assertTrue(hangup['Channel'].startswith(ALICE + '-'))
        self.assertTrue(self.pbx_sim.named('AgentComplete', Interface=ALICE))
        self.assertEqual(self.pbx_sim.sim.callers, {})
        with as_user(boss), self.assertRaisesRegex(
                UserError, 'nothing to hang up'):
            Agent.force_hangup([agent])

    # -- mute and record on demand -------------------------------------

    @with_transaction()
    def test_mute(self):
        "Mute and unmute send MuteAudio on the agent's call channel"
        Agent = Pool().get('cc.agent')
        (alice, bob, _), (agent, _, _) = self.setup_center()
        with as_user(alice), self.assertRaisesRegex(
                UserError, 'no call in progress'):
            Agent.mute([agent])
        with as_user(alice):
            self.talking_call(agent)
            Agent.mute([agent])
            Agent.mute([agent], 'out')
            Agent.unmute([agent])
        with as_user(bob), self.assertRaises(AccessError):
            Agent.mute([agent])
        sent = [(a['Channel'].split('-')[0], a['Direction'], a['State'])
            for a in self.pbx_sim.actions('MuteAudio')]
        self.assertEqual(sent, [(ALICE, 'in', 'on'), (ALICE, 'out', 'on'),
                (ALICE, 'all', 'off')])

    @with_transaction()
    def test_record_on_demand(self):
        "An on-demand recording is the call's recording, as [cc-record]'s"
        pool = Pool()
        Agent = pool.get('cc.agent')
        Call = pool.get('cc.call')
        (alice, _, _), (agent, _, _) = self.setup_center()
        server = self.pbx_sim.server
        server.globals['CC_RECORDINGS'] = '/var/spool/asterisk/monitor/cc'
        with as_user(alice):
            self.talking_call(agent)
            with self.assertRaisesRegex(UserError, 'cannot be stopped'):
                Agent.stop_recording([agent])
            path, = Agent.start_recording([agent])
        caller, = self.pbx_sim.sim.callers.values()
        first = caller.channel
        self.assertTrue(path.startswith('/var/spool/asterisk/monitor/cc/'))
        self.assertTrue(path.endswith(f'/{first.uniqueid}.wav'))
        self.assertEqual(server.monitors, {first.name: path})
        self.assertEqual(first.variables['CDR(userfield)'], path)
        with as_user(alice), self.assertRaisesRegex(
                UserError, 'already being recorded'):
            Agent.start_recording([agent])

        with as_user(alice):
            Agent.stop_recording([agent])
            self.assertEqual(server.monitors, {})
            # Recording again appends to the call's one file.
            Agent.record([agent])
        monitor = self.pbx_sim.actions('MixMonitor')[-1]
        self.assertEqual((monitor['File'], monitor['Options']), (path, 'ab'))

        with as_user(alice):
            Agent.hangup([agent])
        facts = []
        tracker = Tracker(lambda kind, data: facts.append((kind, data)))
        for event in self.pbx_sim.events:
            tracker.feed(event)
        tracker.flush()
        call_id, = Call.ingest_facts(
            [data for kind, data in facts if kind == 'call'])
        self.assertEqual(Call(call_id).recording, path)

    # -- boards ----------------------------------------------------------

    @with_transaction()
    def test_boards(self):
        "The queue board counts waiting and answered calls"
        pool = Pool()
        Call = pool.get('cc.call')
        QueueBoard = pool.get('cc.queue.board')
        AgentBoard = pool.get('cc.agent.board')
        Agent = pool.get('cc.agent')
        (_, _, boss), (agent, _, _) = self.setup_center()
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        # Waiting for 0 s and for a minute: beyond the 20 s threshold.
        Call.record_decisions([{'uniqueid': uniqueid, 'caller_raw': CALLER,
                    'dnis': '95588', 'action': 'queue', 'queue': 'sales',
                    'routed_at': now - dt.timedelta(seconds=waited)}
                for uniqueid, waited in [('w1', 0), ('w2', 60)]])
        Call.agent_connected([connection(uniqueid='a1')])
        Agent.write([agent], {'state': 'talking', 'state_since': now})

        with as_user(boss):
            board, = QueueBoard.search([])
            self.assertEqual((board.waiting, board.waiting_beyond_limit,
                    board.offered_today, board.answered_today,
                    board.agents_busy),
                (2, 1, 3, 1, 1))
            self.assertGreaterEqual(board.longest_wait, 60)
            self.assertEqual(board.service_level_today, 100.0)
            # No call handled lately: the expected wait is unknown.
            self.assertEqual(board.agents_ready, 0)
            self.assertIsNone(board.expected_wait)
        # One handled in 120 s: (2 waiting + 1) × 120 s / 1 busy agent.
        Call.create([{'uniqueid': 'h1', 'state': 'ended',
                    'queue': board.queue.id, 'enter_time': now,
                    'answer_time': now, 'end_time': now,
                    'talk_seconds': 100, 'wrapup_seconds': 20}])
        with as_user(boss):
            board, = QueueBoard.search([])
            self.assertEqual(board.expected_wait, 360)
            agents = {b.agent: b for b in AgentBoard.search([])}
            self.assertEqual(agents[agent].state, 'talking')


def connection(uniqueid='1700000000.1', caller=CALLER, interface=ALICE,
        **changes):
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    values = {'uniqueid': uniqueid, 'linkedid': uniqueid,
        'direction': 'inbound', 'caller_raw': caller, 'dnis': '95588',
        'enter_time': now - dt.timedelta(seconds=20), 'queue': 'sales',
        'interface': interface, 'answer_time': now, 'wait_seconds': 12.5,
        'ivr_path': 'welcome>1'}
    values.update(changes)
    return values


class ScreenPopTestCase(TestCase):
    "Test the screen pop published when a call connects to an agent"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_telephony')

    def setup_center(self):
        pool = Pool()
        User = pool.get('res.user')
        Queue = pool.get('cc.queue')
        Agent = pool.get('cc.agent')
        alice, = User.create([{'name': "Alice", 'login': 'alice'}])
        Queue.create([{'name': "Sales", 'code': 'sales'}])
        Agent.create([{'interface': ALICE, 'user': alice.id},
                {'interface': BOB}])
        return alice

    def pops(self, user):
        ScreenPop = Pool().get('cc.screen.pop')
        with as_user(user):
            return ScreenPop.poll(0)['messages']

    @with_transaction()
    def test_one_match(self):
        "One customer has the number: the pop opens their 360"
        pool = Pool()
        Call = pool.get('cc.call')
        Party = pool.get('party.party')
        Notification = pool.get('res.notification')
        alice = self.setup_center()
        party, = Party.create([{'name': "张三", 'contact_mechanisms': [
                        ('create', [{'type': 'mobile', 'value': CALLER}])]}])

        call_id, = Call.agent_connected([connection()])

        call = Call(call_id)
        self.assertEqual((call.state, call.party, call.agent.interface,
                call.wait_seconds, call.ivr_path),
            ('live', party, ALICE, 12.5, 'welcome>1'))
        pop, = self.pops(alice)
        self.assertEqual((pop['type'], pop['model'], pop['res_id'],
                pop['call_id'], pop['ivr_path'], pop['wait_seconds']),
            ('cc_screen_pop', 'party.party', party.id, call_id,
                'welcome>1', 12.5))
        self.assertNotIn('candidates', pop)
        notification, = Notification.search([('user', '=', alice.id)])
        self.assertEqual(json.loads(notification.records), [party.id])

    @with_transaction()
    def test_several_and_none(self):
        "Several matches give a chooser, none a new-customer form"
        pool = Pool()
        Call = pool.get('cc.call')
        Party = pool.get('party.party')
        alice = self.setup_center()
        parties = Party.create([{'name': name, 'contact_mechanisms': [
                            ('create', [{'type': 'mobile',
                                        'value': CALLER}])]}
                for name in ["张三", "李四"]])

        Call.agent_connected([connection()])
        Call.agent_connected([connection(uniqueid='2', caller='13911112222')])

        several, none = self.pops(alice)
        self.assertEqual(sorted(several['candidates']),
            sorted(p.id for p in parties))
        self.assertNotIn('res_id', several)
        self.assertEqual(none['new_number'], '+8613911112222')

    @with_transaction()
    def test_idempotent_and_no_user(self):
        "A repeated connection keeps one call; no user, no pop"
        pool = Pool()
        Call = pool.get('cc.call')
        ScreenPop = pool.get('cc.screen.pop')
        self.setup_center()
        first, = Call.agent_connected([connection()])
        again, = Call.agent_connected([connection()])
        self.assertEqual(first, again)
        self.assertEqual(Call.search_count([]), 1)

        self.assertEqual(ScreenPop.search_count([]), 1)

        Call.agent_connected([connection(uniqueid='3', interface=BOB)])
        self.assertEqual(Call.search_count([]), 2)
        self.assertEqual(ScreenPop.search_count([]), 1)

    @with_transaction()
    def test_poll_only_own_and_fresh(self):
        "Polling gives only the user's pops after the given id"
        pool = Pool()
        Call = pool.get('cc.call')
        User = pool.get('res.user')
        ScreenPop = pool.get('cc.screen.pop')
        alice = self.setup_center()
        bob, = User.create([{'name': "Bob", 'login': 'bob'}])
        Call.agent_connected([connection()])
        with as_user(alice):
            start = ScreenPop.poll()
        self.assertEqual(start['messages'], [])
        Call.agent_connected([connection(uniqueid='4')])
        with as_user(alice):
            later = ScreenPop.poll(start['last_id'])
        self.assertEqual([m['call_id'] for m in later['messages']],
            [Call.search([('uniqueid', '=', '4')])[0].id])
        self.assertEqual(self.pops(bob), [])

    @with_transaction()
    def test_ingest_after_pop(self):
        "The tracker's final fact completes the call the pop created"
        Call = Pool().get('cc.call')
        self.setup_center()
        call_id, = Call.agent_connected([connection()])
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        ended, = Call.ingest_facts([{
                    'uniqueid': '1700000000.1', 'linkedid': '1700000000.1',
                    'direction': 'inbound', 'caller_raw': CALLER,
                    'dnis': '95588', 'queue': 'sales',
                    'enter_time': now - dt.timedelta(seconds=20),
                    'answer_time': now, 'end_time': now, 'result': 'answered',
                    'wait_seconds': 12.5, 'ivr_path': 'welcome>1',
                    'legs': []}])
        self.assertEqual(ended, call_id)
        self.assertEqual(Call(call_id).state, 'ended')


class BridgeConnectionTestCase(unittest.TestCase):
    "Test what the bridge hook takes from the tracker at AgentConnect"

    def test_connection_from_simulator_events(self):
        "AgentConnect gives the caller, queue, wait and IVR path"
        sim = Simulator()
        sim.add_queue('sales', strategy='linear')
        tracker = Tracker(lambda kind, data: None)
        connections = []

        def feed(event):
            tracker.feed(event)
            if event['Event'] == 'AgentConnect':
                connections.append(connection_of(tracker, event))
        sim.listeners.append(feed)

        async def scenario():
            sim.queue_add('sales', ALICE)
            caller = await sim.arrive(CallPlan(caller=CALLER,
                    queue='sales', talk=30))
            sim.emit('VarSet', caller.channel.headers(),
                Variable='CC_IVR_PATH', Value='welcome>2')
            await sim.advance(5)
        asyncio.run(scenario())

        found, = connections
        self.assertEqual((found['caller_raw'], found['queue'],
                found['interface'], found['ivr_path'], found['direction']),
            (CALLER, 'sales', ALICE, 'welcome>2', 'inbound'))
        self.assertEqual(found['wait_seconds'], 3.0)


class FakeDatabase:
    "The bridge's Database as on_bridge_event uses it: records the calls."

    def __init__(self):
        self.stored = []
        self.committed = 0
        self.pool = SimpleNamespace(get=lambda name: self)

    def agent_connected(self, connections, pbx=None):
        self.stored.append((connections, pbx))

    @contextmanager
    def _transaction(self):
        yield SimpleNamespace(commit=self._commit)

    def _commit(self):
        self.committed += 1


class BridgeHookTestCase(unittest.TestCase):
    "Test that the bridge hook stores AgentConnect in the worker thread"

    def test_agent_connect_is_stored_at_once(self):
        "Only AgentConnect is stored, with the PBX id, and committed"
        sim = Simulator()
        sim.add_queue('sales', strategy='linear')
        database = FakeDatabase()
        executor = concurrent.futures.ThreadPoolExecutor(1)
        self.addCleanup(executor.shutdown)
        link = SimpleNamespace(tracker=Tracker(lambda kind, data: None),
            executor=executor, database=database, settings={'id': 7})
        link.pops = PopQueue(link)

        def feed(event):
            link.tracker.feed(event)
            on_bridge_event(link, event)
        sim.listeners.append(feed)

        async def scenario():
            sim.queue_add('sales', ALICE)
            await sim.arrive(CallPlan(caller=CALLER, queue='sales', talk=30))
            await sim.advance(60)
            await asyncio.get_running_loop().run_in_executor(
                executor, lambda: None)
        asyncio.run(scenario())

        (connections, pbx), = database.stored
        self.assertEqual(pbx, 7)
        self.assertEqual(connections[0]['interface'], ALICE)
        self.assertEqual(database.committed, 1)

    def test_calls_answered_meanwhile_go_together(self):
        "Connections made while a pop is being stored wait, then go as one"
        database = FakeDatabase()
        executor = concurrent.futures.ThreadPoolExecutor(1)
        self.addCleanup(executor.shutdown)
        link = SimpleNamespace(executor=executor, database=database,
            settings={'id': 7})
        link.pops = PopQueue(link)
        first_stored = threading.Event()
        release = threading.Event()
        agent_connected = database.agent_connected

        def slow_first(connections, pbx=None):
            agent_connected(connections, pbx)
            if len(database.stored) == 1:
                first_stored.set()
                release.wait(10)
        database.agent_connected = slow_first

        async def scenario():
            loop = asyncio.get_running_loop()
            link.pops.add({'uniqueid': '1'})
            await loop.run_in_executor(None, first_stored.wait, 10)
            for uniqueid in '234':
                link.pops.add({'uniqueid': uniqueid})
            release.set()
            while link.pops.busy or link.pops.waiting:
                await asyncio.sleep(0.01)
        asyncio.run(scenario())

        self.assertEqual(
            [[c['uniqueid'] for c in connections]
                for connections, pbx in database.stored],
            [['1'], ['2', '3', '4']])
        self.assertEqual(database.committed, 2)


class AMIActionTestCase(unittest.TestCase):
    "Test the one-shot AMI connection against the simulator"

    def test_list_action_and_refusal(self):
        "A list action returns its events; an Error stops the batch"
        pbx = SimThread()
        self.addCleanup(pbx.stop)
        pbx.call(asyncio.sleep(0))
        pbx.loop.call_soon_threadsafe(pbx.sim.queue_add, 'sales', ALICE)
        status, = amiaction.run('127.0.0.1', pbx.port, 'cc', 'secret',
            [('QueueStatus', {})])
        self.assertEqual([e['Event'] for e in status.events],
            ['QueueParams', 'QueueMember'])
        with self.assertRaises(amiaction.AMIError):
            amiaction.run('127.0.0.1', pbx.port, 'cc', 'secret', [
                    ('QueueRemove', {'Queue': 'sales', 'Interface': BOB}),
                    ('QueueRemove', {'Queue': 'sales', 'Interface': ALICE}),
                    ])
        self.assertIn('sales', pbx.sim.members[ALICE].memberships)
