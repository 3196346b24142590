"""The router's snapshot from the database, and its FastAGI answers."""
import asyncio
import concurrent.futures
import datetime as dt
import threading
import time
import unittest

from trytond.modules.cc_telephony import fastagi
from trytond.modules.cc_telephony.pbxsim import agi as sim_agi
from trytond.modules.cc_telephony.router import (
    Router, Snapshot, call_info, handle)
from trytond.modules.cc_telephony.routing import Caller as RoutingCaller
from trytond.modules.cc_telephony.routing import Decision, QueueLoad
from trytond import backend
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.transaction import Transaction
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
    def test_queue_wait_limit_and_overflow(self):
        "The queue's maximum wait and overflow queue reach the answer"
        router = self.setup_center()
        Queue = Pool().get('cc.queue')
        sales, = Queue.search([('code', '=', 'sales')])
        backup, = Queue.create([{'name': "Backup", 'code': 'backup',
                    'max_wait_seconds': 0}])
        Queue.write([sales], {'max_wait_seconds': 120,
                'overflow_queue': backup.id})
        snapshot = router.static()['queues']
        self.assertEqual((snapshot['sales'].max_wait,
                snapshot['sales'].overflow), (120, 'backup'))
        self.assertEqual((snapshot['backup'].max_wait,
                snapshot['backup'].overflow), (None, None))
        variables = self.decide(router, '13700137000').variables()
        self.assertEqual((variables['CC_QUEUE'], variables['CC_TIMEOUT'],
                variables['CC_OVERFLOW']), ('sales', '120', 'backup'))
        # Nobody of sales signed in: the router overflows at once, and the
        # answer carries backup's own settings (no limit, no overflow).
        Pool().get('cc.agent').update_live_states([
                {'interface': f'PJSIP/800{n}', 'state': 'logged_out',
                    'since': NOW} for n in (1, 2, 3)])
        router = Router(DB_NAME, pbx_code='main', cache_seconds=60)
        decision = self.decide(router, '13700137000')
        self.assertIn('overflow', decision.reasons)
        variables = decision.variables()
        self.assertEqual((variables['CC_QUEUE'], variables['CC_TIMEOUT'],
                variables['CC_OVERFLOW']), ('backup', '', ''))

    @with_transaction()
    def test_all_busy_offers_callback(self):
        router = self.setup_center()
        Pool().get('cc.agent').update_live_states([
                {'interface': 'PJSIP/8002', 'state': 'wrap_up',
                    'since': NOW}])
        decision = self.decide(router, '13700137000')
        self.assertEqual(decision.action, 'callback')

    def orm_request(self, router, raw, dnis, now):
        """The routing request built from the ORM alone (identify, last
        agent, live states, configuration): what the router's SQL must
        reproduce."""
        from trytond.modules.cc_telephony import routing
        pool = Pool()
        Caller = pool.get('cc.caller')
        Call = pool.get('cc.call')
        Agent = pool.get('cc.agent')
        static = Snapshot._load(pool, 'main')
        caller = RoutingCaller.from_identify(Caller.identify(raw))
        policy = static['policy']
        last = Call.last_agent(caller.number, caller.party_ids,
            now - dt.timedelta(days=policy.affinity_days))
        states = Agent.live_states()
        agents = []
        for interface, (name, skills, queues) in static['profiles'].items():
            state, since = states.get(interface, ('logged_out', None))
            agents.append(routing.Agent(interface, state, skills=skills,
                    queues=queues, state_since=since, name=name))
        return routing.Request(caller=caller, dnis=dnis, now=now,
            queues=static['queues'], services=static['services'],
            agents=tuple(agents), last_agent=last[0] if last else None,
            last_agent_at=last[1] if last else None, policy=policy)

    def add_red_listed_party(self):
        pool = Pool()
        Party = pool.get('party.party')
        ListEntry = pool.get('cc.list.entry')
        red, = Party.create([{'name': "赵六",
                    'contact_mechanisms': [('create', [{
                                    'type': 'phone', 'value': '02161234567'}])],
                    }])
        ListEntry.create([{'list_type': 'red', 'party': red.id,
                    'reason': "Complaint", 'valid_from': NOW}])
        return red

    @with_transaction()
    def test_call_reads_agree_with_orm(self):
        "One statement says what identify, last_agent and live_states say"
        pool = Pool()
        Caller = pool.get('cc.caller')
        Call = pool.get('cc.call')
        Agent = pool.get('cc.agent')
        router = self.setup_center()
        self.add_red_listed_party()
        static = router.static()
        now = NOW + dt.timedelta(minutes=1)
        for raw in [VIP_NUMBER, '+86' + VIP_NUMBER, BLOCKED,
                '+86 21 6123 4567', '13700137000', 'anonymous', '']:
            for since in [NOW - dt.timedelta(days=30), NOW, None]:
                with self.subTest(raw=raw, since=since):
                    caller, last, states = router.lookup.call_reads(raw,
                        static['caller_options'], static['tiers'], now,
                        since)
                    self.assertEqual(caller,
                        RoutingCaller.from_identify(Caller.identify(raw)))
                    self.assertEqual(last, Call.last_agent(caller.number,
                            caller.party_ids, since) if since else None)
                    self.assertEqual(states, Agent.live_states())
        # The affinity branch finds the VIP's last agent within 30 days.
        _, last, _ = router.lookup.call_reads(VIP_NUMBER,
            static['caller_options'], static['tiers'], now,
            NOW - dt.timedelta(days=30))
        self.assertEqual(last[0], 'PJSIP/8002')

    @unittest.skipUnless(backend.name == 'postgresql',
        "covering indexes (INCLUDE) are PostgreSQL's")
    @with_transaction()
    def test_caller_lookup_indexes_cover_it(self):
        "The caller's parties and tiers can be read from two indexes alone"
        cursor = Transaction().connection.cursor()
        cursor.execute("SELECT tablename, indexdef FROM pg_indexes "
            "WHERE tablename IN ('party_contact_mechanism', 'party_party') "
            "AND indexdef LIKE '%INCLUDE%'")
        covering = {(table, definition.split(' USING ')[1])
            for table, definition in cursor}
        # What the lookup reads of each row (lookup.py call_reads), behind
        # the column it searches by.
        self.assertLessEqual({
                ('party_contact_mechanism',
                    'btree (value_compact) INCLUDE (party, type, active)'),
                ('party_party', 'btree (id) INCLUDE (cc_tier, active)'),
                }, covering)

    @unittest.skipUnless(backend.name == 'postgresql',
        "SQLite's :memory: database is one per connection")
    def test_warm_up_prepares_every_thread(self):
        "At start every deciding thread has its connection and statement"
        threads = 3
        router = Router(DB_NAME, cache_seconds=60)
        with concurrent.futures.ThreadPoolExecutor(threads) as executor:
            router.warm_up(executor, threads)
            barrier = threading.Barrier(threads)

            def connection_state():
                barrier.wait(10)
                connection = router.lookup._local.connection
                cursor = connection.cursor()
                cursor.execute('SELECT count(*) FROM pg_prepared_statements')
                prepared, = cursor.fetchone()
                cursor.execute('SHOW enable_seqscan')
                seqscan, = cursor.fetchone()
                router.lookup.reset()
                return id(connection), prepared, seqscan
            states = list(executor.map(lambda _: connection_state(),
                    range(threads)))
        self.assertEqual(len({c for c, _, _ in states}), threads)
        for _, prepared, seqscan in states:
            self.assertGreaterEqual(prepared, 1)
            # The index walk of Lookup.warm_up leaves the planner as it was.
            self.assertEqual(seqscan, 'on')

    @staticmethod
    def models(*names):
        pool = Pool()
        return [pool.get(name) for name in names]

    @with_transaction()
    def test_long_expected_wait_offers_choices(self):
        "TEL-50: callers waiting and recent handle times give the wait told"
        Queue, Agent, Call = self.models('cc.queue', 'cc.agent', 'cc.call')
        router = self.setup_center()
        sales, = Queue.search([('code', '=', 'sales')])
        Queue.write([sales], {'announce_wait': True,
                'choice_above_seconds': 120, 'choice_extension': '8000'})
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        Agent.update_live_states([{'interface': i, 'state': s, 'since': now}
                for i, s in [('PJSIP/8001', 'talking'),
                    ('PJSIP/8002', 'wrap_up'), ('PJSIP/8003', 'ready')]])
        entered = now - dt.timedelta(minutes=5)
        answered = {'state': 'ended', 'queue': sales.id,
            'enter_time': entered,
            'answer_time': entered + dt.timedelta(seconds=10),
            'end_time': entered + dt.timedelta(seconds=130)}
        Call.create([
                # Waiting now: two; the one entered 5 hours ago is not.
                {'uniqueid': 'w.1', 'state': 'live', 'queue': sales.id,
                    'enter_time': now - dt.timedelta(seconds=40)},
                {'uniqueid': 'w.2', 'state': 'live', 'queue': sales.id,
                    'enter_time': now - dt.timedelta(seconds=10)},
                {'uniqueid': 'w.old', 'state': 'live', 'queue': sales.id,
                    'enter_time': now - dt.timedelta(hours=5)},
                # Handled lately: 100 + 20 + 30 and 80 + 0 + 20 s.
                {'uniqueid': 'h.1', **answered, 'talk_seconds': 100,
                    'hold_seconds': 20, 'wrapup_seconds': 30},
                {'uniqueid': 'h.2', **answered, 'talk_seconds': 80,
                    'wrapup_seconds': 20},
                # Neither: abandoned, and answered an hour ago.
                {'uniqueid': 'a.1', **answered, 'answer_time': None},
                {'uniqueid': 'h.old', **answered, 'talk_seconds': 900,
                    'enter_time': now - dt.timedelta(hours=1)},
                ])
        self.assertEqual(Queue.recent_loads(now),
            {'sales': QueueLoad(waiting=2, handle_seconds=125.0)})

        decision = router.decide({'uniqueid': 'x',
                'caller_raw': '13700137000', 'dnis': '95588'}, NOW)
        # (2 waiting + this caller) × 125 s over 2 busy agents.
        self.assertEqual(decision.action, 'choice')
        self.assertEqual(decision.expected_wait, 188)
        variables = decision.variables()
        self.assertEqual(
            (variables['CC_WAIT_MINUTES'], variables['CC_CHOICE_EXTEN']),
            ('4', '8000'))
        self.assertIn('Expected wait 188 s: 2 callers ahead, 2 busy agents, '
            '125 s per call.', decision.explanation)

        # The extension is dialled as the console dials: a number is
        # normalised, anything else is refused.
        Queue.write([sales], {'choice_extension': '+86 10 6552 9988'})
        self.assertEqual(Queue.routing_snapshot()['sales'].choice_extension,
            '01065529988')
        for extension in ['operator', '1234567']:
            with self.subTest(extension=extension):
                with self.assertRaisesRegex(ValidationError,
                        f'choice extension "{extension}" of queue "Sales"'):
                    Queue.write([sales], {'choice_extension': extension})

        Queue.write([sales], {'announce_wait': False,
                'choice_above_seconds': None})
        self.assertEqual(Queue.recent_loads(now), {})

    @with_transaction()
    def test_overflow_on_falling_service_level(self):
        "TEL-54: the last 30 minutes' service level sends callers to help"
        Queue, Agent, Call = self.models('cc.queue', 'cc.agent', 'cc.call')
        router = self.setup_center()
        sales, = Queue.search([('code', '=', 'sales')])
        helper, = Agent.create([{'interface': 'PJSIP/8009'}])
        help_desk, = Queue.create([{'name': "Help", 'code': 'help',
                    'members': [('create', [{'agent': helper.id}])]}])
        Queue.write([sales], {'overflow_queue': help_desk.id,
                'overflow_service_level': 80})
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        Agent.update_live_states([{'interface': i, 'state': s, 'since': now}
                for i, s in [('PJSIP/8002', 'talking'),
                    ('PJSIP/8003', 'talking'), ('PJSIP/8009', 'ready')]])
        # One answered within the 20 s threshold, one abandoned: 50 %.
        entered = now - dt.timedelta(minutes=5)
        Call.ingest_facts([{
                    'uniqueid': f'sl.{n}', 'linkedid': f'sl.{n}',
                    'direction': 'inbound', 'caller_raw': '13700137000',
                    'dnis': '95588', 'queue': 'sales', 'enter_time': entered,
                    'answer_time': (entered + dt.timedelta(seconds=5)
                        if answered else None),
                    'end_time': entered + dt.timedelta(seconds=60),
                    'result': 'answered' if answered else 'abandoned',
                    'wait_seconds': 5.0 if answered else 40.0,
                    'legs': [],
                    } for n, answered in enumerate([True, False])])
        self.assertEqual(Queue.recent_service_levels(now), {'sales': 50.0})

        decision = router.decide({'uniqueid': 'x',
                'caller_raw': '13700137000', 'dnis': '95588'}, NOW)
        self.assertEqual(decision.queue, 'help')
        self.assertIn('Service level of sales is 50.0% (under 80.0%): '
            'overflow to help, where an agent is ready.',
            decision.explanation)

        with self.assertRaises(ValidationError):
            Queue.write([sales], {'overflow_service_level': 120})

    @with_transaction()
    def test_decisions_same_as_from_orm(self):
        "The router's SQL path decides what the engine decides on ORM data"
        from trytond.modules.cc_telephony.routing import decide
        pool = Pool()
        Agent = pool.get('cc.agent')
        router = self.setup_center()
        self.add_red_listed_party()
        callers = [VIP_NUMBER, BLOCKED, '02161234567', '13700137000', '']
        for states in [None, 'PJSIP/8002']:
            if states:
                # Affinity's agent busy: the next best, or a callback.
                Agent.update_live_states([{'interface': states,
                            'state': 'talking', 'since': NOW}])
            for raw in callers:
                for dnis in ['95588', '4000']:
                    with self.subTest(raw=raw, dnis=dnis, busy=states):
                        info = {'uniqueid': 'x', 'caller_raw': raw,
                            'dnis': dnis}
                        fast = router.decide(info, NOW)
                        orm = decide(self.orm_request(router, raw, dnis,
                                NOW))
                        self.assertEqual(fast, orm)
                        self.assertTrue(fast.explanation)

    @with_transaction()
    def test_agents_rebuilt_only_when_states_change(self):
        "The routing agents are reused until a live state changes"
        pool = Pool()
        Agent = pool.get('cc.agent')
        router = self.setup_center()
        profiles = router.static()['profiles']
        first = router.agents(profiles, Agent.live_states())
        self.assertIs(router.agents(profiles, Agent.live_states()), first)
        Agent.update_live_states([{'interface': 'PJSIP/8003',
                    'state': 'not_ready', 'since': NOW}])
        second = router.agents(profiles, Agent.live_states())
        self.assertIsNot(second, first)
        self.assertEqual({a.interface: a.state for a in second}, {
                'PJSIP/8001': 'talking', 'PJSIP/8002': 'ready',
                'PJSIP/8003': 'not_ready'})

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


    @with_transaction()
    def test_configuration_stamp(self):
        "The stamp follows configuration changes, not live agent states"
        from trytond.modules.cc_telephony.router import configuration_stamp
        pool = Pool()
        Agent = pool.get('cc.agent')
        AgentSkill = pool.get('cc.agent.skill')
        Dnis = pool.get('cc.dnis')
        Queue = pool.get('cc.queue')
        Skill = pool.get('cc.skill')
        self.setup_center()
        stamp = configuration_stamp(pool)
        agent = Agent.search([], limit=1)[0]
        Agent.update_live_states([{'interface': agent.interface,
                    'state': 'ready', 'since': NOW}])
        self.assertEqual(configuration_stamp(pool), stamp)

        sales, = Queue.search([('code', '=', 'sales')])
        headset, = Skill.create([{'name': "Headset", 'code': 'headset'}])
        changes = [
            lambda: Queue.write([sales], {'priority': 50}),
            lambda: AgentSkill.create([{'agent': agent.id,
                        'skill': headset.id, 'proficiency': 2}]),
            lambda: Dnis.delete(Dnis.search([])),
            lambda: Agent.write([agent], {'active': False}),
            ]
        for change in changes:
            with self.subTest(change=change):
                change()
                changed = configuration_stamp(pool)
                self.assertNotEqual(changed, stamp)
                stamp = changed


    @with_transaction()
    def test_explanation_in_the_readers_language(self):
        "The call says why it was routed so in English and in zh_CN"
        from pathlib import Path

        from trytond.modules.cc_telephony.routing import SENTENCES
        pool = Pool()
        Call = pool.get('cc.call')
        Message = pool.get('ir.message')
        ModelData = pool.get('ir.model.data')
        Translation = pool.get('ir.translation')
        for key, sentence in SENTENCES.items():
            with self.subTest(key=key):
                message = Message(ModelData.get_id(
                        'cc_telephony', f'msg_routing_{key}'))
                self.assertEqual(message.text, sentence)

        router = self.setup_center()
        info = {'uniqueid': 'why', 'caller_raw': VIP_NUMBER, 'dnis': '95588'}
        decision = router.decide(info, NOW)
        Call.record_decisions([dict(info, routed_at=NOW,
                    **decision.as_dict())])
        call, = Call.search([('uniqueid', '=', 'why')])
        self.assertEqual(call.routing_why, '\n'.join(decision.explanation))

        Translation.translation_import('zh_CN', 'cc_telephony', [str(
                    Path(__file__).parent.parent / 'locale' / 'zh_CN.po')])
        with Transaction().set_context(language='zh_CN'):
            why = Call(call.id).routing_why
        self.assertIn('VIP 来电', why)
        self.assertNotIn('VIP caller', why)


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


    def test_refresher_reloads_before_calls_find_it_stale(self):
        "keep_fresh: calls never start a reload; the refresher does"
        snapshot = Snapshot(max_age=0.05)
        loads = []
        reloaded = threading.Event()

        def load_in(database, user, pool, code):
            loads.append(threading.current_thread().name)
            if len(loads) > 2:
                reloaded.set()
            return {'n': len(loads)}
        snapshot._load_in = load_in
        self.assertEqual(snapshot.get(None, 'main', 'db'), {'n': 1})
        snapshot.keep_fresh('db', 0, None, 'main')
        self.addCleanup(snapshot.stop_refreshing)
        snapshot.loaded_at -= 1
        snapshot.get(None, 'main', 'db')
        self.assertTrue(reloaded.wait(10))
        self.assertEqual(loads[0], threading.current_thread().name)
        self.assertEqual(set(loads[1:]), {'cc-router-snapshot'})

    def test_refresher_reloads_only_changed_configuration(self):
        "keep_fresh: an unchanged stamp keeps the snapshot without reload"
        snapshot = Snapshot(max_age=0.05)
        database_stamps = iter(['a', 'a', 'a', 'b'])
        current = ['a']
        loads = []
        checked = threading.Event()

        def load_in(database, user, pool, code):
            snapshot.stamp = current[0]
            loads.append(current[0])
            return {'n': len(loads)}

        def check_in(database, user, pool):
            current[0] = next(database_stamps, current[0])
            if len(loads) == 2:
                checked.set()
            return current[0], {}
        snapshot._load_in, snapshot._check_in = load_in, check_in
        snapshot.get(None, 'main', 'db')
        snapshot.keep_fresh('db', 0, None, 'main')
        self.addCleanup(snapshot.stop_refreshing)
        self.assertTrue(checked.wait(10))
        # Loaded with 'a', three checks found 'a', then 'b' made it reload.
        self.assertEqual(loads, ['a', 'b'])

    def test_refresher_renews_service_levels(self):
        "Between reloads the refresher renews the live figures only"
        snapshot = Snapshot(max_age=0.05)
        levels = iter([{'sales': 90.0}, {'sales': 70.0}])
        loads = {'sales': QueueLoad(3, 120.0)}
        loaded = []
        renewed = threading.Event()

        def load_in(database, user, pool, code):
            snapshot.stamp = 'a'
            loaded.append(code)
            return {'queues': 'loaded', 'service_levels': {},
                'queue_loads': {}}

        def check_in(database, user, pool):
            level = next(levels, None)
            if level is None:
                renewed.set()
            return 'a', {'service_levels': level or {'sales': 70.0},
                'queue_loads': loads}
        snapshot._load_in, snapshot._check_in = load_in, check_in
        snapshot.get(None, 'main', 'db')
        snapshot.keep_fresh('db', 0, None, 'main')
        self.addCleanup(snapshot.stop_refreshing)
        self.assertTrue(renewed.wait(10))
        self.assertEqual(snapshot.values,
            {'queues': 'loaded', 'service_levels': {'sales': 70.0},
                'queue_loads': loads})
        self.assertEqual(loaded, ['main'])

    def test_no_cache_reads_for_every_call(self):
        "--cache-seconds 0 (the benchmark's baseline) reads at each call"
        snapshot = Snapshot(max_age=0)
        loads = []
        snapshot._load_in = (lambda database, user, pool, code:
            loads.append(code) or {'n': len(loads)})
        self.assertEqual(snapshot.get(None, 'main', 'db'), {'n': 1})
        self.assertEqual(snapshot.get(None, 'main', 'db'), {'n': 2})


class WriterBatchTestCase(unittest.TestCase):
    "How the writer groups the decisions it stores"

    def test_batch_takes_what_is_queued_up_to_the_limit(self):
        import queue
        from trytond.modules.cc_telephony import router as module
        decisions = queue.Queue()
        for n in range(module.WRITE_BATCH + 5):
            decisions.put(n)
        batch = Router._next_batch(decisions)
        self.assertEqual(batch, list(range(module.WRITE_BATCH)))
        self.assertEqual(Router._next_batch(decisions),
            list(range(module.WRITE_BATCH, module.WRITE_BATCH + 5)))

    def test_batch_ends_at_the_stop_marker(self):
        import queue
        decisions = queue.Queue()
        for item in [1, 2, None, 3]:
            decisions.put(item)
        self.assertEqual(Router._next_batch(decisions), [1, 2, None])
        self.assertEqual(Router._next_batch(decisions), [3])

    def test_batch_gives_up_when_the_router_is_gone(self):
        import queue
        self.assertIsNone(Router._next_batch(queue.Queue(),
                alive=lambda: False))


    def test_batch_lingers_for_what_comes_after_the_first(self):
        "Decisions queued while the writer lingers join the batch."
        import queue
        decisions = queue.Queue()
        decisions.put(1)
        later = threading.Timer(0.02, decisions.put, args=(2,))
        later.start()
        self.addCleanup(later.cancel)
        self.assertEqual(Router._next_batch(decisions, linger=1.0), [1, 2])

    def test_batch_does_not_linger_after_the_stop_marker(self):
        import queue
        decisions = queue.Queue()
        decisions.put(None)
        started = time.monotonic()
        self.assertEqual(Router._next_batch(decisions, linger=30), [None])
        self.assertLess(time.monotonic() - started, 25)
    def test_write_loop_stores_then_stops(self):
        import queue
        import tempfile
        router = Router.__new__(Router)
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        router.spool_dir = directory.name
        router.incarnation = lambda: {'database': 'test', 'pbx': None}
        stored = []
        router.write = stored.append
        decisions = queue.Queue()
        for item in [{'uniqueid': '1'}, {'uniqueid': '2'}, None]:
            decisions.put(item)
        router._write_loop(decisions)
        self.assertEqual(stored, [[{'uniqueid': '1'}, {'uniqueid': '2'}]])


class FakeRouter:
    "Decides without a database, or fails like one that is down."

    def __init__(self, fail=False):
        self.fail = fail
        self.recorded = []
        self.snapshot = Snapshot(1)

    def decide(self, info, now):
        if self.fail:
            raise ConnectionError('database is down')
        decision = Decision(queue='sales', priority=3, agent='PJSIP/8002',
            timeout=300, overflow='backup')
        decision.because('affinity', 'affinity', agent='PJSIP/8002')
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

    def converse(self, router, combined=True):
        commands = []

        async def run():
            import concurrent.futures
            executor = concurrent.futures.ThreadPoolExecutor(2)
            server = await fastagi.serve(
                lambda env, agi: handle(router, executor, env, agi,
                    combined=combined), '127.0.0.1', 0)
            port = server.sockets[0].getsockname()[1]
            channel = Channel()
            # The simulator sets each variable of an ARRAY() assignment.
            await sim_agi.route(f'agi://127.0.0.1:{port}/route', channel,
                channel.variables.__setitem__, on_command=commands.append)
            server.close()
            await server.wait_closed()
            executor.shutdown()
            return channel.variables
        self.commands = commands
        return asyncio.run(run())

    def test_answer_then_record(self):
        "Default answer: one ARRAY() assignment, then the decision stored"
        router = FakeRouter()
        variables = self.converse(router)
        self.assertEqual(variables, {
                'CC_ACTION': 'queue', 'CC_QUEUE': 'sales',
                'CC_PRIORITY': '3', 'CC_AGENT': 'PJSIP/8002',
                'CC_ANNOUNCE': '', 'CC_TARGET': '', 'CC_TIMEOUT': '300',
                'CC_OVERFLOW': 'backup', 'CC_WAIT_MINUTES': '',
                'CC_CHOICE_EXTEN': '', 'CC_REASON': 'affinity'})
        self.assertEqual([words[:4] for words in self.commands], [[
                    'SET', 'VARIABLE', 'ARRAY(CC_ACTION,CC_QUEUE,CC_PRIORITY,'
                    'CC_AGENT,CC_ANNOUNCE,CC_TARGET,CC_TIMEOUT,CC_OVERFLOW,'
                    'CC_WAIT_MINUTES,CC_CHOICE_EXTEN,CC_REASON)',
                    'queue,sales,3,PJSIP/8002,,,300,backup,,,affinity']])
        (uniqueid, decision), = router.recorded
        self.assertEqual(uniqueid, '1700000000.1')
        self.assertEqual(decision['steps'],
            [['affinity', {'agent': 'PJSIP/8002'}]])

    def test_answer_one_command_per_variable(self):
        "--answer variables: the same variables, one SET VARIABLE each"
        variables = self.converse(FakeRouter(), combined=False)
        self.assertEqual(variables, self.converse(FakeRouter()))
        self.converse(FakeRouter(), combined=False)
        self.assertEqual([words[2] for words in self.commands],
            list(variables))

    def test_answer_option(self):
        from trytond.modules.cc_telephony.router import parse_arguments
        self.assertEqual(parse_arguments(['-d', 'x']).answer, 'array')
        self.assertEqual(parse_arguments(
                ['-d', 'x', '--answer', 'variables']).answer, 'variables')

    def test_database_down_still_answers(self):
        for combined in [True, False]:
            with self.subTest(combined=combined):
                router = FakeRouter(fail=True)
                variables = self.converse(router, combined)
                self.assertEqual(variables['CC_ACTION'], 'queue')
                self.assertEqual(variables['CC_REASON'], 'router_error')
                self.assertEqual(router.recorded[0][1]['reason'],
                    'router_error')
                # No snapshot yet: nothing known of the queue's wait limit.
                self.assertEqual(
                    (variables['CC_TIMEOUT'], variables['CC_OVERFLOW']),
                    ('', ''))

    def test_database_down_keeps_the_known_wait_limit(self):
        "The fallback queue's wait limit and overflow, from the last snapshot"
        from trytond.modules.cc_telephony.routing import Policy, Queue
        router = FakeRouter(fail=True)
        router.snapshot.values = {'policy': Policy(default_queue='sales'),
            'queues': {'sales': Queue('sales', max_wait=120,
                    overflow='backup'), 'backup': Queue('backup')}}
        variables = self.converse(router)
        self.assertEqual((variables['CC_QUEUE'], variables['CC_TIMEOUT'],
                variables['CC_OVERFLOW'], variables['CC_REASON']),
            ('sales', '120', 'backup', 'router_error'))


class Outage:
    """The router's real ``write``, behind a database that can be switched
    off as in the bridge's tests: while ``down`` it fails as SQLite does
    when another process holds its lock."""

    def __init__(self, write):
        self.write = write
        self.down = False
        self.stored = []

    def __call__(self, batch):
        import sqlite3
        if self.down:
            raise sqlite3.OperationalError('database is locked')
        self.write(batch)
        self.stored += [d['uniqueid'] for d in batch]


def routing_decision(n, action='queue'):
    return {'uniqueid': f'w.{n}', 'caller_raw': f'1370000{n:04d}',
        'dnis': '95588', 'routed_at': NOW + dt.timedelta(seconds=n),
        'action': action, 'queue': 'sales', 'reason': 'service',
        'explanation': [f'decision {n}']}


class DecisionWriterTestCase(TestCase):
    """The decision writer on a real database: a refused decision, an
    unavailable database and a stop never lose a decision"""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_telephony')

    def setUp(self):
        import tempfile
        from trytond.modules.cc_telephony import router as module
        super().setUp()
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.addCleanup(self.delete_calls)
        retry = module.RETRY_SECONDS
        module.RETRY_SECONDS = 0.05
        self.addCleanup(setattr, module, 'RETRY_SECONDS', retry)
        self.router = Router(DB_NAME, pbx_code='main', cache_seconds=60)
        self.router.spool_dir = directory.name
        self.outage = self.router.write = Outage(self.router.write)
        self.spool_path = self.writer_file('.spool')
        self.dead_path = self.writer_file('.dead')

    def writer_file(self, suffix):
        "The router's files are named as the bridge's (bridge.file_base)."
        from trytond.modules.cc_telephony.bridge import file_base
        return file_base(self.router.spool_dir, DB_NAME, 'main',
            service='router') + suffix

    def delete_calls(self):
        from trytond.transaction import Transaction
        with Transaction().start(DB_NAME, 0) as transaction:
            call = Pool().get('cc.call').__table__()
            transaction.connection.cursor().execute(*call.delete(
                    where=call.uniqueid.like('w.%')))
            transaction.commit()

    def stored(self):
        "{uniqueid: routing action} of the stored calls, in creation order."
        from trytond.transaction import Transaction
        with Transaction().start(DB_NAME, 0, readonly=True):
            Call = Pool().get('cc.call')
            return [(c.uniqueid, c.routing_action) for c in Call.search(
                    [('uniqueid', 'like', 'w.%')], order=[('id', 'ASC')])]

    def lines(self, path):
        "The uniqueids of a spool or dead-letter file, in order."
        import json
        import os
        if not os.path.exists(path):
            return []
        with open(path, encoding='utf-8') as file:
            return [json.loads(line)['data']['uniqueid'] for line in file]

    def run_writer(self, decisions):
        """Run the writer in this thread (the SQLite ``:memory:`` database
        is this thread's) until it returns; a writer that never returns
        (retrying forever, as the writer of earlier versions) fails the
        test after a minute instead of hanging it."""
        import signal

        def hung(signum, frame):
            raise AssertionError('the writer never returned')
        previous = signal.signal(signal.SIGALRM, hung)
        signal.alarm(60)
        try:
            self.router._write_loop(decisions)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)

    def test_poison_decision_dead_lettered_and_the_others_stored(self):
        "A decision the database refuses no longer holds up the others"
        import json
        import queue
        decisions = queue.Queue()
        for n in range(1, 6):
            decisions.put(routing_decision(n,
                    action='nonsense' if n == 3 else 'queue'))
        decisions.put(None)
        with self.assertLogs('trytond.modules.cc_telephony.router',
                'WARNING') as logs:
            self.run_writer(decisions)
        self.assertEqual(self.stored(),
            [(f'w.{n}', 'queue') for n in (1, 2, 4, 5)])
        self.assertEqual(self.lines(self.dead_path), ['w.3'])
        with open(self.dead_path, encoding='utf-8') as file:
            letter = json.loads(file.read())
        self.assertEqual(letter['kind'], 'decision')
        self.assertEqual(letter['data']['action'], 'nonsense')
        self.assertIn('Error', letter['error'])
        self.assertTrue(any('1 routing decisions refused' in line
                and self.dead_path in line for line in logs.output),
            logs.output)
        self.assertEqual(self.lines(self.spool_path), [])

        # The next writer (a restart) counts it and stores the next ones.
        decisions.put(routing_decision(6))
        decisions.put(None)
        with self.assertLogs('trytond.modules.cc_telephony.router',
                'WARNING') as logs:
            self.run_writer(decisions)
        self.assertIn('1 routing decisions refused', logs.output[0])
        self.assertEqual(self.stored()[-1], ('w.6', 'queue'))

    def test_database_down_spooled_then_replayed_in_order(self):
        "While the database is unavailable decisions wait on disk, in order"
        import queue
        import time
        decisions = queue.Queue()
        seen = []

        def pbx_side():
            "Route calls while the database is down, then bring it back."
            def wait_for(count):
                deadline = time.monotonic() + 30
                while (len(self.lines(self.spool_path)) < count
                        and time.monotonic() < deadline):
                    time.sleep(0.01)
                seen.append(self.lines(self.spool_path))
            decisions.put(routing_decision(1))
            decisions.put(routing_decision(2))
            wait_for(2)
            decisions.put(routing_decision(3))
            wait_for(3)
            self.outage.down = False
            # No new decision: the writer replays the spool on its own.
            deadline = time.monotonic() + 30
            while (len(self.outage.stored) < 3
                    and time.monotonic() < deadline):
                time.sleep(0.01)
            decisions.put(None)

        self.outage.down = True
        thread = threading.Thread(target=pbx_side)
        thread.start()
        try:
            self.run_writer(decisions)
        finally:
            self.outage.down = False
            thread.join()
        self.assertEqual(seen, [['w.1', 'w.2'], ['w.1', 'w.2', 'w.3']])
        self.assertEqual(self.outage.stored, ['w.1', 'w.2', 'w.3'])
        self.assertEqual(self.stored(),
            [('w.1', 'queue'), ('w.2', 'queue'), ('w.3', 'queue')])
        self.assertEqual(self.lines(self.spool_path), [])

    def test_stop_stores_or_spools_what_is_queued(self):
        "Stopped while the database is down, the writer spools its queue"
        from trytond.modules.cc_telephony.routing import Decision
        self.outage.down = True
        # A thread writer, as --writer thread; it never reaches the
        # database, which is down.
        self.router.start_writer()
        for n in range(1, 8):
            decision = Decision(queue='sales')
            decision.because('service', 'service', number='95588',
                service='Sales', queue='sales')
            self.router.record({'uniqueid': f'w.{n}', 'caller_raw': '',
                    'dnis': '95588'}, decision, NOW)
        self.router.stop_writer(timeout=10)
        self.assertFalse(self.router._writer.is_alive())
        self.assertEqual(self.lines(self.spool_path),
            [f'w.{n}' for n in range(1, 8)])
        self.assertEqual(self.outage.stored, [])

        # The next start stores them, in order, before anything newer.
        import queue
        self.outage.down = False
        decisions = queue.Queue()
        decisions.put(routing_decision(8))
        decisions.put(None)
        self.run_writer(decisions)
        self.assertEqual([uniqueid for uniqueid, _ in self.stored()],
            [f'w.{n}' for n in range(1, 9)])
        self.assertEqual(self.lines(self.spool_path), [])
