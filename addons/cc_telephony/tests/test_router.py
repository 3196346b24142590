"""The router's snapshot from the database, and its FastAGI answers."""
import asyncio
import datetime as dt
import unittest

from trytond.modules.cc_telephony import fastagi
from trytond.modules.cc_telephony.pbxsim import agi as sim_agi
from trytond.modules.cc_telephony.router import (
    Router, Snapshot, call_info, handle)
from trytond.modules.cc_telephony.routing import Caller as RoutingCaller
from trytond.modules.cc_telephony.routing import Decision
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, TestCase, activate_module, with_transaction)

NOW = dt.datetime(2026, 3, 2, 2, 0)
VIP_NUMBER, BLOCKED = '13800138000', '13900139000'


class RouterTestCase(TestCase):
    "Test the router against a database"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_telephony')

    def setup_center(self):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Skill = pool.get('cc.skill')
        Queue = pool.get('cc.queue')
        Agent = pool.get('cc.agent')
        Dnis = pool.get('cc.dnis')
        Party = pool.get('party.party')
        Pbx = pool.get('cc.pbx')
        ListEntry = pool.get('cc.list.entry')
        Call = pool.get('cc.call')
        billing, = Skill.create([{'name': "Billing", 'code': 'billing'}])
        sales, = Queue.create([{
                    'name': "Sales", 'code': 'sales', 'busy_action': 'callback',
                    'skills': [('create', [{'skill': billing.id,
                                    'min_proficiency': 2}])],
                    }])
        a, b, c = Agent.create([{
                    'interface': f'PJSIP/800{n}',
                    'skills': [('create', [{'skill': billing.id,
                                    'proficiency': p}])],
                    'memberships': [('create', [{'queue': sales.id}])],
                    } for n, p in [(1, 5), (2, 3), (3, 1)]])
        Dnis.create([{'number': '95588', 'service': "Sales",
                    'queue': sales.id, 'priority': 1}])
        Pbx.create([{'name': "Main", 'code': 'main', 'ami_username': 'cc',
                    'default_queue': sales.id, 'vip_boost': 20}])
        Party.create([{
                    'name': "王五",
                    'cc_tier': ModelData.get_id('cc_base', 'tier_vip'),
                    'contact_mechanisms': [('create', [{
                                    'type': 'mobile', 'value': VIP_NUMBER}])],
                    }])
        ListEntry.create([{'list_type': 'black', 'number': BLOCKED,
                    'reason': "Abuse", 'valid_from': NOW - dt.timedelta(1)}])
        Agent.update_live_states([
                {'interface': 'PJSIP/8001', 'state': 'talking',
                    'since': NOW},
                {'interface': 'PJSIP/8002', 'state': 'ready',
                    'since': NOW - dt.timedelta(minutes=3)},
                {'interface': 'PJSIP/8003', 'state': 'ready',
                    'since': NOW - dt.timedelta(minutes=9)},
                ])
        # PJSIP/8002 served the VIP caller last week.
        Call.ingest_facts([{
                    'uniqueid': '1699.1', 'linkedid': '1699.1',
                    'direction': 'inbound', 'caller_raw': VIP_NUMBER,
                    'dnis': '95588', 'queue': 'sales',
                    'enter_time': NOW - dt.timedelta(days=7),
                    'answer_time': NOW - dt.timedelta(days=7),
                    'end_time': NOW - dt.timedelta(days=7, seconds=-60),
                    'result': 'answered', 'wait_seconds': 0.0,
                    'legs': [{'agent_interface': 'PJSIP/8002',
                            'ring_start': NOW - dt.timedelta(days=7),
                            'answer_time': NOW - dt.timedelta(days=7),
                            'end_time': NOW - dt.timedelta(
                                days=7, seconds=-60),
                            'result': 'completed'}],
                    }])
        return Router(DB_NAME, pbx_code='main', cache_seconds=60)

    def decide(self, router, caller, dnis='95588'):
        from trytond.modules.cc_telephony.routing import decide
        return decide(router.request(
                {'uniqueid': 'x', 'caller_raw': caller, 'dnis': dnis}, NOW))

    @with_transaction()
    def test_vip_with_affinity(self):
        "A VIP caller goes to the agent who served them, with priority"
        router = self.setup_center()
        decision = self.decide(router, VIP_NUMBER)
        self.assertEqual(decision.action, 'queue')
        self.assertEqual(decision.queue, 'sales')
        self.assertEqual(decision.agent, 'PJSIP/8002')
        # queue 0 + service 1 + VIP tier 10 + VIP boost 20
        self.assertEqual(decision.priority, 31)
        self.assertEqual(decision.reasons,
            ['service', 'tier', 'vip', 'affinity'])

    @with_transaction()
    def test_unknown_caller_gets_best_skilled_ready_agent(self):
        "Skills × proficiency: the talking expert is skipped, 8003 lacks it"
        router = self.setup_center()
        decision = self.decide(router, '13700137000')
        self.assertEqual(decision.agent, 'PJSIP/8002')
        self.assertEqual(decision.priority, 1)
        self.assertEqual(decision.reasons, ['service', 'skills'])

    @with_transaction()
    def test_blacklisted_caller_rejected(self):
        router = self.setup_center()
        decision = self.decide(router, BLOCKED)
        self.assertEqual((decision.action, decision.target),
            ('reject', 'reject'))

    @with_transaction()
    def test_unknown_dnis_uses_pbx_default_queue(self):
        router = self.setup_center()
        decision = self.decide(router, '13700137000', dnis='4000')
        self.assertEqual(decision.queue, 'sales')
        self.assertEqual(decision.reasons[0], 'default_queue')

    @with_transaction()
    def test_all_busy_offers_callback(self):
        router = self.setup_center()
        Pool().get('cc.agent').update_live_states([
                {'interface': 'PJSIP/8002', 'state': 'wrap_up',
                    'since': NOW}])
        decision = self.decide(router, '13700137000')
        self.assertEqual(decision.action, 'callback')

    @with_transaction()
    def test_lookup_agrees_with_identify(self):
        "The router's SQL reads say what cc.caller.identify says"
        pool = Pool()
        Caller = pool.get('cc.caller')
        Party = pool.get('party.party')
        ListEntry = pool.get('cc.list.entry')
        router = self.setup_center()
        red, = Party.create([{'name': "赵六",
                    'contact_mechanisms': [('create', [{
                                    'type': 'phone', 'value': '02161234567'}])],
                    }])
        ListEntry.create([{'list_type': 'red', 'party': red.id,
                    'reason': "Complaint", 'valid_from': NOW}])
        static = router.static()
        for raw in [VIP_NUMBER, BLOCKED, '+86 21 6123 4567', '13700137000',
                'anonymous', '']:
            with self.subTest(raw=raw):
                expected = RoutingCaller.from_identify(Caller.identify(raw))
                self.assertEqual(router.lookup.caller(raw,
                        static['caller_options'], static['tiers'],
                        dt.datetime.now()), expected)

    @with_transaction()
    def test_lookup_last_agent_and_states_agree(self):
        pool = Pool()
        Call = pool.get('cc.call')
        Agent = pool.get('cc.agent')
        router = self.setup_center()
        since = NOW - dt.timedelta(days=30)
        self.assertEqual(
            router.lookup.last_agent('+86' + VIP_NUMBER, (), since),
            Call.last_agent('+86' + VIP_NUMBER, (), since))
        self.assertEqual(
            router.lookup.last_agent('+86' + VIP_NUMBER, (), since)[0],
            'PJSIP/8002')
        self.assertIsNone(router.lookup.last_agent(
                '+86' + VIP_NUMBER, (), NOW))
        self.assertEqual(router.lookup.live_states(), Agent.live_states())

    @with_transaction()
    def test_queue_calendar_and_holidays(self):
        "Opening hours and Chinese holidays send callers to night service"
        pool = Pool()
        Calendar = pool.get('cc.calendar')
        Queue = pool.get('cc.queue')
        router = self.setup_center()
        calendar, = Calendar.create([{
                    'name': "Office", 'chinese_holidays': True,
                    'lines': [('create', [{'weekday': str(d),
                                    'start_time': dt.time(9),
                                    'end_time': dt.time(18)}
                                for d in range(5)])],
                    }])
        sales, = Queue.search([('code', '=', 'sales')])
        Queue.write([sales], {'calendar': calendar.id,
                'night_kind': 'voicemail', 'night_target': '8000'})
        from trytond.modules.cc_telephony.routing import decide
        # NOW is Monday 10:00 in Shanghai; 2026-10-01 is National Day;
        # Monday 20:00 is after hours.
        for moment, action in [
                (NOW, 'queue'),
                (dt.datetime(2026, 10, 1, 2, 0), 'night'),
                (NOW + dt.timedelta(hours=10), 'night')]:
            with self.subTest(moment=moment):
                decision = decide(router.request({'uniqueid': 'x',
                            'caller_raw': '13700137000', 'dnis': '95588'},
                        moment))
                self.assertEqual(decision.action, action)
                if action == 'night':
                    self.assertEqual(
                        (decision.target, decision.mailbox, decision.queue),
                        ('voicemail', '8000', None))
                    self.assertIn('closed', decision.reasons)
        self.assertTrue(sales.is_open(NOW))
        self.assertFalse(sales.is_open(dt.datetime(2026, 10, 1, 2, 0)))

    @with_transaction()
    def test_snapshot_is_cached(self):
        "Configuration is read once per cache period, live states per call"
        pool = Pool()
        router = self.setup_center()
        self.decide(router, '13700137000')
        Queue = pool.get('cc.queue')
        sales, = Queue.search([('code', '=', 'sales')])
        Queue.write([sales], {'priority': 50})
        self.assertEqual(self.decide(router, '13700137000').priority, 1)
        router.snapshot.loaded_at -= 61
        self.assertEqual(self.decide(router, '13700137000').priority, 51)


class CallInfoTestCase(unittest.TestCase):

    def test_call_info(self):
        self.assertEqual(call_info({
                    'agi_uniqueid': '1.2', 'agi_callerid': '138',
                    'agi_extension': '95588', 'agi_dnid': '95588'}),
            {'uniqueid': '1.2', 'caller_raw': '138', 'dnis': '95588'})
        self.assertEqual(call_info({'agi_callerid': 'unknown',
                    'agi_extension': 's', 'agi_arg_1': '4000'})['dnis'],
            '4000')
        self.assertEqual(call_info({'agi_callerid': 'unknown'}),
            {'uniqueid': '', 'caller_raw': '', 'dnis': ''})

    def test_snapshot_reload(self):
        snapshot = Snapshot(max_age=10)
        loads = []
        snapshot._load = lambda pool, code: loads.append(code) or {'n': 1}
        snapshot.get(None, 'main')
        snapshot.get(None, 'main')
        self.assertEqual(loads, ['main'])
        snapshot.loaded_at -= 11
        snapshot.get(None, 'main')
        self.assertEqual(loads, ['main', 'main'])


class FakeRouter:
    "Decides without a database, or fails like one that is down."

    def __init__(self, fail=False):
        self.fail = fail
        self.recorded = []
        self.snapshot = Snapshot(1)

    def decide(self, info, now):
        if self.fail:
            raise ConnectionError('database is down')
        decision = Decision(queue='sales', priority=3, agent='PJSIP/8002')
        decision.because('affinity', 'Served before.')
        return decision

    def fallback(self, error):
        return Router.fallback(self, error)

    def record(self, info, decision, routed_at):
        self.recorded.append((info['uniqueid'], decision.as_dict()))


class Channel:
    name, uniqueid = 'PJSIP/trunk-00000001', '1700000000.1'
    caller_num, caller_name = '13800138000', 'Zhang'
    exten, context = '95588', 'from-pstn'

    def __init__(self):
        self.variables = {}


class HandleTestCase(unittest.TestCase):
    "The FastAGI conversation, over TCP, with the simulator's AGI side"

    def converse(self, router):
        async def run():
            import concurrent.futures
            executor = concurrent.futures.ThreadPoolExecutor(2)
            server = await fastagi.serve(
                lambda env, agi: handle(router, executor, env, agi),
                '127.0.0.1', 0)
            port = server.sockets[0].getsockname()[1]
            channel = Channel()
            await sim_agi.route(f'agi://127.0.0.1:{port}/route', channel,
                channel.variables.__setitem__)
            server.close()
            await server.wait_closed()
            executor.shutdown()
            return channel.variables
        return asyncio.run(run())

    def test_answer_then_record(self):
        router = FakeRouter()
        variables = self.converse(router)
        self.assertEqual(variables, {
                'CC_ACTION': 'queue', 'CC_QUEUE': 'sales',
                'CC_PRIORITY': '3', 'CC_AGENT': 'PJSIP/8002',
                'CC_ANNOUNCE': '', 'CC_TARGET': '', 'CC_REASON': 'affinity'})
        (uniqueid, decision), = router.recorded
        self.assertEqual(uniqueid, '1700000000.1')
        self.assertEqual(decision['explanation'], ['Served before.'])

    def test_database_down_still_answers(self):
        router = FakeRouter(fail=True)
        variables = self.converse(router)
        self.assertEqual(variables['CC_ACTION'], 'queue')
        self.assertEqual(variables['CC_REASON'], 'router_error')
        self.assertEqual(router.recorded[0][1]['reason'], 'router_error')
