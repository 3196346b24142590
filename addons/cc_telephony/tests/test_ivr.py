"""IVR menus: the models' validation, the FastAGI conversation with the
simulator's AGI side, and a call through simulator, router, bridge and
database (slow: a database is built for it)."""
import asyncio
import concurrent.futures
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path
from unittest import mock

from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError
from trytond.modules.cc_telephony import fastagi, ivr, ivr_engine, routing
from trytond.modules.cc_telephony.pbxsim import agi as sim_agi
from trytond.modules.cc_telephony.router import Router, Snapshot, handle
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    TestCase, activate_module, with_transaction)

# Modules, not classes: their test cases are not collected again here.
from . import test_e2e_pbx, test_router

NOW = dt.datetime(2026, 3, 2, 2, 0)


def setup_menus(pool, queues):
    """welcome (1 中文, 2 English) → main (1 sales, 2 billing menu,
    3 account number, 0 agent) → billing (1 billing queue, 2 VIP desk with
    priority, 9 back, * main)."""
    Menu = pool.get('cc.ivr.menu')
    welcome, = Menu.create([{'code': 'welcome', 'name': "Welcome",
                'greeting': 'cc-welcome', 'timeout': 4, 'retries': 1}])
    main, = Menu.create([{'code': 'main', 'name': "Main Menu",
                'greeting': 'cc-main', 'parent': welcome.id,
                'invalid_prompt': 'cc-invalid', 'retries': 2}])
    billing, = Menu.create([{'code': 'billing', 'name': "Billing",
                'greeting': 'cc-billing', 'parent': main.id}])
    Menu.write([welcome], {'options': [('create', [
                        {'key': '1', 'action': 'language', 'language': 'zh',
                            'submenu': main.id, 'label': "中文"},
                        {'key': '2', 'action': 'language', 'language': 'en',
                            'submenu': main.id, 'label': "English"},
                        ])]})
    Menu.write([main], {'options': [('create', [
                        {'key': '1', 'action': 'queue',
                            'queue': queues['sales'].id},
                        {'key': '2', 'action': 'submenu',
                            'submenu': billing.id},
                        {'key': '3', 'action': 'self_service',
                            'service': 'account_number'},
                        {'key': '0', 'action': 'agent'},
                        ])]})
    Menu.write([billing], {'options': [('create', [
                        {'key': '1', 'action': 'queue',
                            'queue': queues['billing'].id},
                        {'key': '2', 'action': 'queue', 'priority': 5,
                            'queue': queues['billing'].id},
                        {'key': '9', 'action': 'back'},
                        {'key': '*', 'action': 'main'},
                        ])]})
    return welcome, main, billing


class IvrModelTestCase(TestCase):
    "IVR menus and options"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_telephony')

    def queues(self):
        Queue = Pool().get('cc.queue')
        return {q.code: q for q in Queue.create([
                    {'name': "Sales", 'code': 'sales'},
                    {'name': "Billing", 'code': 'billing'}])}

    @with_transaction()
    def test_snapshot(self):
        "The menus as the engine sees them, with the registered services"
        welcome, main, billing = setup_menus(Pool(), self.queues())
        menus = Pool().get('cc.ivr.menu').ivr_snapshot()
        self.assertEqual(menus['main'].parent, 'welcome')
        self.assertEqual(menus.root('billing'), 'welcome')
        self.assertEqual(menus['billing'].options['2'], ivr_engine.Option(
                '2', 'queue', queue='billing', priority=5))
        self.assertEqual(menus['welcome'].options['2'].target, 'main')
        self.assertEqual(menus['welcome'].timeout, 4.0)
        self.assertIn('account_number', menus.services)
        conversation, steps = ivr_engine.run_script(menus, 'welcome',
            ['2', '2', '1'])
        self.assertEqual(steps[-1], ivr_engine.Done('queue', 'billing',
                'billing', 0))
        self.assertEqual(conversation.path, 'welcome>2>2>1')
        self.assertEqual(conversation.language, 'en')

    @with_transaction()
    def test_one_option_per_key(self):
        _, main, _ = setup_menus(Pool(), self.queues())
        Option = Pool().get('cc.ivr.option')
        with self.assertRaises(UserError) as raised:
            Option.create([{'menu': main.id, 'key': '1',
                        'action': 'agent'}])
        self.assertIn('one option only', str(raised.exception))

    @with_transaction()
    def test_action_needs_its_target(self):
        Menu = Pool().get('cc.ivr.menu')
        Option = Pool().get('cc.ivr.option')
        menu, = Menu.create([{'code': 'm', 'name': "M"}])
        # Each refused record stays in the transaction: keys differ.
        for key, action, field in [('5', 'submenu', 'Submenu'),
                ('6', 'queue', 'Queue'), ('7', 'language', 'Language'),
                ('8', 'self_service', 'Self-Service')]:
            with self.subTest(action=action):
                with self.assertRaises(ValidationError) as raised:
                    Option.create([{'menu': menu.id, 'key': key,
                                'action': action}])
                self.assertIn(field, str(raised.exception))

    @with_transaction()
    def test_submenu_not_its_own_menu(self):
        Menu = Pool().get('cc.ivr.menu')
        menu, = Menu.create([{'code': 'm', 'name': "M"}])
        with self.assertRaises(ValidationError) as raised:
            Pool().get('cc.ivr.option').create([{'menu': menu.id,
                        'key': '1', 'action': 'submenu',
                        'submenu': menu.id}])
        self.assertIn('its own menu', str(raised.exception))

    @with_transaction()
    def test_no_parent_cycle(self):
        welcome, main, billing = setup_menus(Pool(), self.queues())
        Menu = Pool().get('cc.ivr.menu')
        with self.assertRaises(ValidationError) as raised:
            Menu.write([welcome], {'parent': billing.id})
        self.assertIn('its own parent', str(raised.exception))

    @with_transaction()
    def test_timeout_retries_code(self):
        Menu = Pool().get('cc.ivr.menu')
        for code, values, text in [('t', {'timeout': 0}, 'timeout'),
                ('r', {'retries': -1}, 'retries'),
                ('c', {'code': 'a b'}, 'only letters')]:
            with self.subTest(values=values):
                with self.assertRaises(ValidationError) as raised:
                    Menu.create([{'code': code, 'name': "X", **values}])
                self.assertIn(text, str(raised.exception))
        Menu.create([{'code': 'x', 'name': "X"}])
        with self.assertRaises(UserError):
            Menu.create([{'code': 'x', 'name': "Y"}])

    @with_transaction()
    def test_unknown_service_refused(self):
        Menu = Pool().get('cc.ivr.menu')
        menu, = Menu.create([{'code': 'm', 'name': "M"}])
        with self.assertRaises(ValidationError):
            Pool().get('cc.ivr.option').create([{'menu': menu.id,
                        'key': '1', 'action': 'self_service',
                        'service': 'no_such_action'}])

    @with_transaction()
    def test_service_hook(self):
        Option = Pool().get('cc.ivr.option')
        self.assertIn(('account_number', "Account number to the agent"),
            Option.get_services())
        result = Option.ivr_serve('account_number', {'digits': '6222'})
        self.assertEqual((result.variables, result.next),
            ({'CC_IVR_ACCOUNT': '6222'}, 'agent'))
        self.assertEqual(Option.ivr_serve('gone', {}).next, 'agent')

    @with_transaction()
    def test_demo_menus(self):
        "The demo center's menu tree loads, once, and can be walked"
        from ccsuite import demo_telephony
        Queue = Pool().get('cc.queue')
        queues = {q.code: q.id for q in Queue.create([
                    {'name': code, 'code': code}
                    for code in ('consult', 'complaints', 'vip')])}
        created = {}
        demo_telephony._ivr_menus(Pool(), queues, created)
        self.assertEqual(created, {'cc.ivr.menu': 3})
        demo_telephony._ivr_menus(Pool(), queues, created)
        self.assertEqual(created, {'cc.ivr.menu': 3})
        menus = Pool().get('cc.ivr.menu').ivr_snapshot()
        conversation, steps = ivr_engine.run_script(menus, 'welcome',
            ['1', '2', '9', '2', '2'])
        self.assertEqual(steps[-1].queue, 'vip')
        self.assertEqual((conversation.path, conversation.language),
            ('welcome>1>2>9>2>2', 'zh'))

        # The demo traffic's callers (ccsuite/demo_pbx.json) reach a queue
        # or an agent, unless they hang up.
        traffic = json.loads((Path(demo_telephony.__file__).parent
                / 'demo_pbx.json').read_text(encoding='utf-8'))['traffic']
        for digits in traffic['digits']:
            presses = digits.split(',')
            if 'h' in presses:
                presses = presses[:presses.index('h')]
            _, steps = ivr_engine.run_script(menus, 'welcome', presses)
            with self.subTest(digits=digits):
                self.assertIn(steps[-1].kind, {'queue', 'agent'})

    @with_transaction()
    def test_decision_recorded_with_ivr_steps(self):
        "The call keeps the language and the IVR's steps, translated"
        pool = Pool()
        Call = pool.get('cc.call')
        conversation, _ = ivr_engine.run_script(demo_menus(), 'welcome',
            ['2', '2', '1'])
        decision = routing.Decision(queue='billing')
        decision.because('service', 'service', number='95588',
            service="Billing", queue='billing')
        decision = ivr.IvrDecision.wrap(decision, conversation)
        Call.record_decisions([dict({'uniqueid': '1.1', 'caller_raw': '',
                        'dnis': '95588', 'routed_at': NOW},
                    **decision.as_dict())])
        call, = Call.search([('uniqueid', '=', '1.1')])
        self.assertEqual(call.ivr_language, 'en')
        self.assertEqual(call.routing_reason, 'ivr,service')
        self.assertEqual(call.routing_why.splitlines(), [
                'IVR menu welcome.', 'Key 2: language en.',
                'Key 2: menu billing.', 'Key 1: queue billing.',
                'Dialled 95588: service "Billing", queue billing.'])


def demo_menus():
    "The menus of setup_menus, without a database."
    Option, Menu = ivr_engine.Option, ivr_engine.Menu
    return ivr_engine.Menus([
            Menu('welcome', "Welcome", greeting='cc-welcome', timeout=4,
                retries=1, options={
                    '1': Option('1', 'language', language='zh',
                        target='main'),
                    '2': Option('2', 'language', language='en',
                        target='main')}),
            Menu('main', "Main Menu", greeting='cc-main', parent='welcome',
                invalid_prompt='cc-invalid', retries=2, options={
                    '1': Option('1', 'queue', queue='sales'),
                    '2': Option('2', 'submenu', target='billing'),
                    '3': Option('3', 'self_service',
                        service='account_number'),
                    '0': Option('0', 'agent'),
                    '#': Option('#', 'hangup')}),
            Menu('billing', "Billing", greeting='cc-billing', parent='main',
                options={
                    '1': Option('1', 'queue', queue='billing'),
                    '2': Option('2', 'queue', queue='billing', priority=5),
                    '9': Option('9', 'back'),
                    '*': Option('*', 'main')}),
            ], services={'account_number': ivr_engine.Service(
                'account_number', digits=20, prompt='cc-ivr-enter-account')})


class FakeLookup:
    def reset(self):
        pass


class FakeRouter:
    """The router's routing part in memory: the real routing.decide over
    two queues and the hotline 95588 → sales; the menus of demo_menus."""

    def __init__(self, blacklisted=()):
        self.recorded = []
        self.snapshot = Snapshot(60)
        self.lookup = FakeLookup()
        self.ivr_menus = ivr.MenuCache(60)
        self.ivr_menus.values = demo_menus()
        self.ivr_menus.loaded_at = time.monotonic()
        self.blacklisted = blacklisted

    def request(self, info, now):
        caller = routing.Caller(number=info['caller_raw'],
            list_status='black' if info['caller_raw'] in self.blacklisted
            else None)
        return routing.Request(caller=caller, dnis=info['dnis'], now=now,
            queues={'sales': routing.Queue('sales', priority=1),
                'billing': routing.Queue('billing')},
            services={'95588': routing.Service('95588', "Hotline",
                    'sales')})

    def decide(self, info, now):
        return routing.decide(self.request(info, now))

    def fallback(self, error):
        return Router.fallback(self, error)

    def record(self, info, decision, routed_at):
        self.recorded.append((info['uniqueid'], decision.as_dict()))


class Channel(test_router.Channel):
    "The channel of test_router's conversations, with its language."
    language = 'zh'


class IvrConversationTestCase(unittest.TestCase):
    "The IVR over FastAGI, against the simulator's res_agi"

    def converse(self, router, script, presses):
        commands = []
        answered = []

        async def run():
            executor = concurrent.futures.ThreadPoolExecutor(2)
            server = await fastagi.serve(
                lambda env, agi: handle(router, executor, env, agi),
                '127.0.0.1', 0)
            port = server.sockets[0].getsockname()[1]
            channel = Channel()
            keypad = sim_agi.Keypad.parse(presses)
            await sim_agi.route(f'agi://127.0.0.1:{port}/{script}', channel,
                channel.variables.__setitem__, on_command=commands.append,
                keypad=keypad, on_answer=lambda: answered.append(True))
            server.close()
            await server.wait_closed()
            executor.shutdown()
            return channel, keypad
        self.commands = commands
        self.answered = answered
        return asyncio.run(run())

    def test_two_then_one(self):
        "English, 2 then 1: the billing queue through the router's rules"
        router = FakeRouter()
        channel, keypad = self.converse(router, 'ivr', '2,2,1')
        self.assertEqual(self.answered, [True])
        self.assertEqual(channel.language, 'en')
        variables = channel.variables
        self.assertEqual((variables['CC_ACTION'], variables['CC_QUEUE'],
                variables['CC_PRIORITY'], variables['CC_IVR_PATH'],
                variables['CC_LANGUAGE'], variables['CC_REASON']),
            ('queue', 'billing', '0', 'welcome>2>2>1', 'en',
                'ivr,service,pbx_distribution'))
        self.assertEqual(keypad.prompts,
            ['cc-welcome', 'cc-main', 'cc-billing'])
        # The path is set as it grows (the bridge sees it even if the
        # caller hangs up), the language when chosen.
        self.assertEqual([w[:4] for w in self.commands[:6]], [
                ['ANSWER'],
                ['SET', 'VARIABLE', 'CC_IVR_PATH', 'welcome'],
                ['STREAM', 'FILE', 'cc-welcome', '0123456789*#'],
                ['SET', 'VARIABLE', 'CC_IVR_PATH', 'welcome>2'],
                ['SET', 'VARIABLE', 'CHANNEL(language)', 'en'],
                ['STREAM', 'FILE', 'cc-main', '0123456789*#']])
        (uniqueid, decision), = router.recorded
        self.assertEqual(uniqueid, '1700000000.1')
        self.assertEqual((decision['ivr_path'], decision['ivr_language'],
                decision['queue'], decision['service']),
            ('welcome>2>2>1', 'en', 'billing', '95588'))
        self.assertEqual(decision['explanation'][:2],
            ['IVR menu welcome.', 'Key 2: language en.'])

    def test_priority_of_the_option(self):
        router = FakeRouter()
        channel, _ = self.converse(router, 'ivr/billing', '2')
        self.assertEqual((channel.variables['CC_QUEUE'],
                channel.variables['CC_PRIORITY'],
                channel.variables['CC_IVR_PATH']), ('billing', '5',
                'billing>2'))
        self.assertNotIn('CC_LANGUAGE', channel.variables)

    def test_silence_waits_for_a_digit(self):
        "No key during the greeting: WAIT FOR DIGIT, '' is a timeout"
        router = FakeRouter()
        channel, _ = self.converse(router, 'ivr/main', ',1')
        self.assertEqual([w[:4] for w in self.commands[2:6]], [
                ['STREAM', 'FILE', 'cc-main', '0123456789*#'],
                ['WAIT', 'FOR', 'DIGIT', '5000'],
                ['STREAM', 'FILE', 'cc-main', '0123456789*#'],
                ['SET', 'VARIABLE', self.commands[5][2],
                    self.commands[5][3]]])
        self.assertTrue(self.commands[5][2].startswith('ARRAY('))
        self.assertEqual(channel.variables['CC_QUEUE'], 'sales')
        self.assertEqual(channel.variables['CC_IVR_PATH'], 'main>1')

    def test_invalid_keys_then_an_agent(self):
        "Three invalid keys (retries 2): the normal routing of 95588"
        router = FakeRouter()
        channel, keypad = self.converse(router, 'ivr/main', '7,7,7')
        # Each key interrupts the prompt playing: the next 7 comes during
        # the invalid-input prompt.
        self.assertEqual(keypad.prompts, ['cc-main', 'cc-invalid',
                'cc-invalid'])
        variables = channel.variables
        self.assertEqual((variables['CC_QUEUE'], variables['CC_IVR_PATH'],
                variables['CC_REASON']),
            ('sales', 'main', 'ivr,service,pbx_distribution'))
        steps = [key for key, _ in router.recorded[0][1]['steps']]
        self.assertEqual(steps.count('ivr_invalid'), 3)
        self.assertIn('ivr_retries', steps)

    def test_self_service_input_travels(self):
        "GET DATA collects the account number; it goes with the call"
        router = FakeRouter()
        # The action as the database's cc.ivr.option answers it.
        with mock.patch.object(ivr, 'serve_in_transaction',
                lambda router, name, request: ivr.IvrOption.ivr_serve(
                    name, request)):
            channel, _ = self.converse(router, 'ivr/main', '3,62220001#')
        get_data, = [w for w in self.commands if w[:2] == ['GET', 'DATA']]
        self.assertEqual(get_data[2:], ['cc-ivr-enter-account', '5000',
                '20'])
        self.assertEqual(channel.variables['CC_IVR_ACCOUNT'], '62220001')
        self.assertEqual(channel.variables['CC_QUEUE'], 'sales')

    def test_hangup_in_the_menu(self):
        "The caller hangs up: no variables, the call recorded as IVR"
        router = FakeRouter()
        channel, keypad = self.converse(router, 'ivr/main', '2,h')
        self.assertTrue(keypad.hung_up)
        self.assertNotIn('CC_ACTION', channel.variables)
        # Set before the billing menu played: the bridge knows it.
        self.assertEqual(channel.variables['CC_IVR_PATH'], 'main>2')
        (_, decision), = router.recorded
        self.assertEqual((decision['action'], decision['target'],
                decision['reason'], decision['ivr_path']),
            ('ivr', 'billing', 'ivr', 'main>2'))
        self.assertEqual(decision['steps'][-1][0], 'ivr_caller_hangup')

    def test_goodbye_key(self):
        "The hang-up option: the IVR hangs up, the call is recorded"
        router = FakeRouter()
        channel, keypad = self.converse(router, 'ivr/main', '#')
        self.assertEqual(self.commands[-1], ['HANGUP'])
        self.assertTrue(keypad.hung_up)
        (_, decision), = router.recorded
        self.assertEqual((decision['action'], decision['ivr_path'],
                decision['steps'][-1][0]), ('ivr', 'main>#', 'ivr_hangup'))

    def test_blacklist_still_applies(self):
        router = FakeRouter(blacklisted=('13800138000',))
        channel, _ = self.converse(router, 'ivr/main', '1')
        self.assertEqual(channel.variables['CC_ACTION'], 'reject')
        self.assertEqual(channel.variables['CC_IVR_PATH'], 'main>1')

    def test_unknown_menu_routes_the_call(self):
        router = FakeRouter()
        channel, _ = self.converse(router, 'ivr/nope', '1')
        self.assertEqual(channel.variables['CC_QUEUE'], 'sales')
        self.assertNotIn('CC_IVR_PATH', channel.variables)
        self.assertEqual([w[:2] for w in self.commands],
            [['SET', 'VARIABLE']])

    def test_route_unchanged(self):
        "The script route answers at once, without prompts"
        router = FakeRouter()
        channel, _ = self.converse(router, 'route', '1')
        self.assertEqual(len(self.commands), 1)
        self.assertEqual(channel.variables['CC_QUEUE'], 'sales')


class KeypadTestCase(unittest.TestCase):
    "The simulator answers as res_agi does"

    def test_replies(self):
        keypad = sim_agi.Keypad.parse('2,,123,h')
        self.assertEqual(keypad.stream_file('a', '12'), '200 result=50 '
            'endpos=4000')
        self.assertEqual(keypad.stream_file('a', '12'), '200 result=0 '
            'endpos=8000')
        self.assertEqual(keypad.wait_for_digit(), '200 result=0')
        self.assertEqual(keypad.get_data('a', 2), '200 result=12')
        self.assertEqual(keypad.get_data('a', 2), '200 result=-1')
        self.assertTrue(keypad.hung_up)
        self.assertEqual(sim_agi.reply(['ANSWER'], None, None, keypad),
            sim_agi.DEAD)
        keypad = sim_agi.Keypad.parse(['', '4', '9#'])
        self.assertEqual(keypad.get_data('a', 3), '200 result= (timeout)')
        self.assertEqual(keypad.get_data('a', 3), '200 result=4 (timeout)')
        self.assertEqual(keypad.get_data('a', 3), '200 result=9')

    def test_traffic_of_ivr_callers(self):
        import random
        from trytond.modules.cc_telephony.pbxsim import scenario
        plan = scenario.random_plan({'rate_per_minute': 1,
                'ivr': 'ivr/main', 'digits': ['2,1']}, random.Random(1))
        self.assertEqual((plan.ivr, plan.digits), ('ivr/main', '2,1'))
        plan = scenario.random_plan({'rate_per_minute': 1},
            random.Random(1))
        self.assertEqual((plan.ivr, plan.digits), (None, None))

        # With ivr_share, that share of the callers only.
        rng = random.Random(1)
        through_ivr = sum(bool(scenario.random_plan({'rate_per_minute': 1,
                        'digits': ['1'], 'ivr_share': 0.6}, rng).ivr)
            for _ in range(1000))
        self.assertTrue(550 < through_ivr < 650, through_ivr)

    def test_client_reads_them(self):
        "fastagi's helpers read the simulator's replies"
        key = fastagi.AGIChannel._key
        self.assertEqual(key('200 result=50 endpos=4000'), '2')
        self.assertEqual(key('200 result=0 endpos=8000'), '')
        self.assertEqual(key('200 result=35'), '#')
        self.assertIsNone(key('200 result=-1 endpos=0'))
        match = fastagi.DATA_REPLY.match
        self.assertEqual(match('200 result= (timeout)').groups(),
            ('', 'timeout'))
        self.assertEqual(match('200 result=12').groups(), ('12', None))
        self.assertEqual(match('200 result=-1').groups(), ('-1', None))


ALICE, BOB = 'PJSIP/1001', 'PJSIP/1002'
SETTLE_TIMEOUT = 60


def setup_database(database, ami_port, agi_port):
    "Queues, agents, the hotline, the PBX and the menus (child process)."
    from ccsuite import session
    with session.transaction(database) as pool:
        Queue = pool.get('cc.queue')
        Agent = pool.get('cc.agent')
        sales, billing = Queue.create([
                {'name': "Sales", 'code': 'sales', 'strategy': 'linear'},
                {'name': "Billing", 'code': 'billing',
                    'strategy': 'linear'}])
        Agent.create([{'interface': interface, 'wrapup_seconds': 10,
                    'memberships': [('create', [{'queue': queue.id}])]}
                for interface, queue in [(ALICE, sales), (BOB, billing)]])
        pool.get('cc.dnis').create([{'number': '95588', 'service': "Hotline",
                    'queue': sales.id}])
        pool.get('cc.pbx').create([{'name': "Simulator", 'code': 'sim',
                    'ami_port': ami_port, 'ami_username': 'cc',
                    'ami_secret': 'secret', 'agi_port': agi_port}])
        setup_menus(pool, {'sales': sales, 'billing': billing})


# (simulated seconds, script steps, number of ended calls expected).
IVR_DAY = [
    (5, [{'at': 0, 'do': 'login', 'queue': 'sales', 'agent': ALICE},
            {'at': 0, 'do': 'login', 'queue': 'billing', 'agent': BOB}], 0),
    # English, then 2 (billing menu), then 1 (billing queue): Bob.
    (95, [{'at': 10, 'do': 'call', 'caller': '13700000001', 'talk': 30,
                'ivr': 'ivr', 'digits': '2,2,1'}], 1),
    # Straight into the main menu, three invalid keys: an agent through
    # the hotline's normal routing (sales): Alice.
    (195, [{'at': 100, 'do': 'call', 'caller': '13700000002', 'talk': 30,
                'ivr': 'ivr/main', 'digits': '7,7,7'}], 2),
    # Hangs up in the billing menu.
    (295, [{'at': 200, 'do': 'call', 'caller': '13700000003',
                'ivr': 'ivr/main', 'digits': '2,h'}], 3),
    ]


class IvrEndToEndTestCase(unittest.TestCase):
    "IVR callers through simulator, router, bridge and database"
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        from ccsuite import config, testing
        cls.testing = testing
        cls.database = testing.TestDatabase(
            testing.unique_database_name('cc_ivr_e2e'),
            modules=['cc_telephony']).create()
        cls.spool = tempfile.TemporaryDirectory()
        cls.ami_port, cls.agi_port = testing.free_port(), testing.free_port()
        subprocess.run([sys.executable, '-c',
                'import sys; from trytond.modules.cc_telephony.tests.'
                'test_ivr import setup_database; '
                'setup_database(sys.argv[1], int(sys.argv[2]), '
                'int(sys.argv[3]))',
                cls.database.name, str(cls.ami_port), str(cls.agi_port)],
            check=True, env=config.environ(), cwd=config.ROOT)
        cls.logs = []
        cls.processes = [
            cls.service('router', '-v', '--listen',
                f'127.0.0.1:{cls.agi_port}'),
            cls.service('bridge', '--spool-dir', cls.spool.name,
                '--flush-interval', '0.1', '--clock-speed', '0')]
        test_e2e_pbx.wait_for_port(cls.agi_port)

    # The router and bridge processes, their logs and the database, as the
    # scripted day of test_e2e_pbx runs them.
    service = test_e2e_pbx.ScriptedDayTestCase.__dict__['service']
    query = test_e2e_pbx.ScriptedDayTestCase.query
    service_logs = test_e2e_pbx.ScriptedDayTestCase.service_logs

    @classmethod
    def tearDownClass(cls):
        for process in cls.processes:
            process.terminate()
        for process in cls.processes:
            try:
                # The router's writer stores what is queued first.
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        cls.spool.cleanup()
        cls.database.drop()
        for log in cls.logs:
            log.close()

    async def wait(self, condition, what):
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not condition():
            if time.monotonic() > deadline:
                self.fail(what + self.service_logs())
            await asyncio.sleep(0.05)

    def ended(self, count):
        return lambda: self.query("SELECT count(*) FROM cc_call "
            "WHERE state = 'ended' AND routed_at IS NOT NULL")[0][0] >= count

    def test_ivr_day(self):
        from trytond.modules.cc_telephony.pbxsim import scenario
        from trytond.modules.cc_telephony.pbxsim.server import AMIServer
        start = dt.datetime.now(dt.timezone.utc).replace(
            tzinfo=None, microsecond=0)
        sim = scenario.build({'start': start.isoformat(),
                'queues': [{'name': name, 'strategy': 'linear',
                        'timeout': 15} for name in ('sales', 'billing')],
                'script': [s for _, steps, _ in IVR_DAY for s in steps]},
            f'agi://127.0.0.1:{self.agi_port}/route')
        varsets = []
        sim.listeners.append(lambda event: varsets.append(
                (event['Variable'], event['Value']))
            if event['Event'] == 'VarSet' else None)

        async def run():
            server = AMIServer(sim, {'cc': 'secret'})
            await server.start('127.0.0.1', self.ami_port)
            await self.wait(lambda: self.query('SELECT status FROM cc_pbx')
                == [('connected',)], 'bridge did not log in')
            for until, _, ended in IVR_DAY:
                await sim.advance_to(start + dt.timedelta(seconds=until))
                sim.emit('TestClock')
                await self.wait(self.ended(ended), f'{ended} calls ended')
                # The router decides on the live states the bridge stored:
                # the simulated clock must not outrun them.
                await self.wait(lambda: self.query(
                        "SELECT count(*) FROM cc_agent WHERE state = 'ready'"
                        )[0][0] == 2, 'agents ready')
            await server.stop()
        asyncio.run(run())
        # As Asterisk emits them: a VarSet for each variable set.
        self.assertIn(('CC_IVR_PATH', 'welcome>2>2>1'), varsets)
        rows = self.query(
            'SELECT c.caller_number, c.ivr_path, c.ivr_language, '
            'c.queue_code, c.routing_action, c.routing_reason, c.result, '
            'a.interface FROM cc_call c '
            'LEFT JOIN cc_agent a ON a.id = c.agent ORDER BY c.enter_time')
        self.assertEqual([row[:6] for row in rows], [
                ('+8613700000001', 'welcome>2>2>1', 'en', 'billing', 'queue',
                    'ivr,service'),
                ('+8613700000002', 'main', None, 'sales', 'queue',
                    'ivr,service'),
                ('+8613700000003', 'main>2', None, None, 'ivr', 'ivr'),
                ])
        self.assertEqual([(row[6], row[7]) for row in rows[:2]],
            [('answered', BOB), ('answered', ALICE)])
        why, = self.query('SELECT routing_explanation FROM cc_call '
            "WHERE caller_number = '+8613700000002'")[0]
        self.assertIn('Menu main: 3 invalid or missing keys: to an agent.',
            why)


class TicketStatusTestCase(TestCase):
    "cc_ticket's self-service action, through cc_telephony's hook"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module(['cc_telephony', 'cc_ticket'])

    def complaints(self, *numbers):
        "A complaint ticket from each of the contact ``numbers``."
        pool = Pool()
        type_, = pool.get('cc.ticket.type').create([{'name': "Complaint",
                    'code': 'complaint', 'kind': 'complaint'}])
        return pool.get('cc.ticket').create([{'subject': f"Complaint {n}",
                    'type': type_.id, 'contact_number': number}
                for n, number in enumerate(numbers)])

    @with_transaction()
    def test_ticket_status(self):
        pool = Pool()
        Option = pool.get('cc.ivr.option')
        mine, other = self.complaints('13800138000', '13900139000')
        self.assertIn('ticket_status', Option.ivr_services())
        keyed = ''.join(c for c in mine.number if c.isdigit())
        result = Option.ivr_serve('ticket_status', {
                'caller': '13800138000', 'digits': keyed})
        self.assertEqual(result.variables, {'CC_IVR_TICKET': mine.number,
                'CC_IVR_TICKET_STATE': mine.state})
        self.assertEqual(result.prompts, ('cc-ivr-ticket-status',
                f'cc-ivr-ticket-{mine.state}'))
        self.assertEqual(result.next, 'menu')
        # Another caller's ticket is not told.
        keyed = ''.join(c for c in other.number if c.isdigit())
        result = Option.ivr_serve('ticket_status', {
                'caller': '13800138000', 'digits': keyed})
        self.assertEqual((result.variables, result.prompts),
            ({}, ('cc-ivr-ticket-unknown',)))
        # An option may offer it; the menus carry it to the engine.
        menu, = pool.get('cc.ivr.menu').create([{'code': 'm', 'name': "M",
                    'options': [('create', [{'key': '5',
                                    'action': 'self_service',
                                    'service': 'ticket_status'}])]}])
        menus = pool.get('cc.ivr.menu').ivr_snapshot()
        self.assertEqual(menus.services['ticket_status'].digits, 20)

    @with_transaction()
    def test_open_ticket_said_before_the_menu(self):
        "TEL-61: a caller with an open ticket first hears its state"
        pool = Pool()
        Menu = pool.get('cc.ivr.menu')
        Option = pool.get('cc.ivr.option')
        Ticket = pool.get('cc.ticket')
        old, mine = self.complaints('13800138000', '13800138000')
        self.assertIn(('open_ticket_status', "Status of the caller's open "
                "ticket (cc_ticket)"), Menu.get_intro_services())
        self.assertNotIn('ticket_status',
            dict(Menu.get_intro_services()))
        result = Option.ivr_serve('open_ticket_status',
            {'caller': '+86 138 0013 8000'})
        self.assertEqual(result.prompts, ('cc-ivr-open-ticket-status',
                f'cc-ivr-ticket-{mine.state}'))
        self.assertEqual(result.variables['CC_IVR_TICKET'], mine.number)
        # Done tickets and other callers' are not told.
        Ticket.write([old, mine], {'state': 'closed'})
        for caller in ['13800138000', '13900139000', '']:
            with self.subTest(caller=caller):
                result = Option.ivr_serve('open_ticket_status',
                    {'caller': caller})
                self.assertEqual((result.prompts, result.next),
                    ((), 'menu'))
        # A menu opens with it; an action that needs keys cannot.
        menu, = Menu.create([{'code': 'm', 'name': "M",
                    'intro_service': 'open_ticket_status'}])
        self.assertEqual(Menu.ivr_snapshot()['m'].intro,
            'open_ticket_status')
        with self.assertRaises(ValidationError):
            Menu.write([menu], {'intro_service': 'ticket_status'})
