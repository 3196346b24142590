"""Storing tracker facts and router decisions: idempotent, complete."""
import datetime as dt

from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.cc_base.tests.tools import as_user
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    TestCase, activate_module, with_transaction)
from trytond.transaction import Transaction

T0 = dt.datetime(2026, 3, 2, 2, 0, 0)
CALLER = '13800138000'
E164 = '+8613800138000'


def at(seconds):
    return T0 + dt.timedelta(seconds=seconds)


def blind_transfer_legs():
    "Alice answers at 12 s and transfers blind to Bob (8002) at 40 s."
    return [
        {'agent_interface': 'PJSIP/8001', 'ring_start': at(8),
            'answer_time': at(12), 'end_time': at(40),
            'ring_seconds': 4.0, 'talk_seconds': 23.0,
            'hold_seconds': 5.0, 'result': 'transferred_blind',
            'transfer_target': '8002'},
        {'agent_interface': 'PJSIP/8002', 'ring_start': at(40),
            'answer_time': at(46), 'end_time': at(130),
            'ring_seconds': 6.0, 'talk_seconds': 84.0,
            'hold_seconds': 0.0, 'result': 'completed',
            'transfer_target': None},
        ]


def answered_fact(uniqueid='1700000000.1', caller=CALLER, **changes):
    "An answered call: 12 s in queue, 4 s ringing, 60 s talk incl. 10 hold."
    fact = {
        'uniqueid': uniqueid,
        'linkedid': uniqueid,
        'direction': 'inbound',
        'caller_raw': caller,
        'dnis': '95588',
        'queue': 'sales',
        'enter_time': at(0),
        'answer_time': at(12),
        'end_time': at(72),
        'result': 'answered',
        'abandon_position': None,
        'wait_seconds': 12.0,
        'recording': 'rec/1700000000.1.wav',
        'ivr_path': '1>2',
        'legs': [{
                'agent_interface': 'PJSIP/8001',
                'ring_start': at(8),
                'answer_time': at(12),
                'end_time': at(72),
                'ring_seconds': 4.0,
                'talk_seconds': 50.0,
                'hold_seconds': 10.0,
                'result': 'completed',
                'transfer_target': None,
                }],
        }
    fact.update(changes)
    return fact


def routing_decision(uniqueid='1700000000.1', **changes):
    "The router's decision on the call of answered_fact: queue sales."
    decision = {
        'uniqueid': uniqueid,
        'caller_raw': CALLER,
        'dnis': '95588',
        'routed_at': at(0),
        'action': 'queue',
        'queue': 'sales',
        'explanation': [],
        }
    decision.update(changes)
    return decision


def interval(state, start, end, interface='PJSIP/8001', reason=None,
        queue='sales'):
    return {
        'key': f'{interface}@{start.isoformat()}',
        'interface': interface,
        'state': state,
        'reason': reason,
        'queue': queue,
        'start': start,
        'end': end,
        }


class IngestTestCase(TestCase):
    "Test ingestion of call facts, agent intervals and decisions"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_telephony')

    def setup_center(self):
        pool = Pool()
        Queue = pool.get('cc.queue')
        Agent = pool.get('cc.agent')
        Party = pool.get('party.party')
        User = pool.get('res.user')
        user, = User.create([{'name': "Alice", 'login': 'alice'}])
        sales, = Queue.create([{
                    'name': "Sales", 'code': 'sales',
                    'service_level_seconds': 20,
                    }])
        alice, bob = Agent.create([
                {'interface': 'PJSIP/8001', 'user': user.id},
                {'interface': 'PJSIP/8002'},
                ])
        party, = Party.create([{
                    'name': "张三",
                    'contact_mechanisms': [('create', [{
                                    'type': 'mobile', 'value': CALLER}])],
                    }])
        return sales, alice, bob, party

    def counts(self):
        pool = Pool()
        return tuple(pool.get(m).search_count([]) for m in (
                'cc.call', 'cc.call.leg', 'cc.interaction',
                'cc.agent.state'))

    @with_transaction()
    def test_answered_call(self):
        "An answered call is stored with its leg, customer and contact"
        Call = Pool().get('cc.call')
        sales, alice, _, party = self.setup_center()

        call_id, = Call.ingest_facts([answered_fact()])

        call = Call(call_id)
        self.assertEqual(call.state, 'ended')
        self.assertEqual(call.direction, 'inbound')
        self.assertEqual(call.caller_raw, CALLER)
        self.assertEqual(call.caller_number, E164)
        self.assertTrue(call.caller_region)
        self.assertEqual(call.queue, sales)
        self.assertEqual(call.queue_code, 'sales')
        self.assertEqual(call.party, party)
        self.assertEqual(list(call.candidates), [party])
        self.assertEqual(call.agent, alice)
        self.assertEqual(call.result, 'answered')
        self.assertEqual(
            (call.wait_seconds, call.ring_seconds, call.talk_seconds,
                call.hold_seconds, call.wrapup_seconds),
            (12.0, 4.0, 50.0, 10.0, 0.0))
        self.assertTrue(call.within_service_level)
        self.assertEqual(call.recording, 'rec/1700000000.1.wav')
        self.assertEqual(call.ivr_path, '1>2')
        leg, = call.legs
        self.assertEqual(leg.agent, alice)
        self.assertEqual(leg.result, 'completed')
        self.assertEqual(leg.ring_start, at(8))
        interaction = call.interaction
        self.assertEqual(interaction.origin, call)
        self.assertEqual(interaction.party, party)
        self.assertEqual(interaction.agent, alice.user)
        self.assertEqual(interaction.channel, 'phone')
        self.assertEqual(
            (interaction.start, interaction.end), (at(0), at(72)))
        self.assertEqual(interaction.number, E164)

    @with_transaction()
    def test_same_fact_twice_changes_nothing(self):
        "A fact seen twice, in one batch or two, changes nothing"
        Call = Pool().get('cc.call')
        self.setup_center()
        fact = answered_fact()

        first = Call.ingest_facts([fact, dict(fact)])
        before = self.counts()
        call, = Call.browse(first)
        write_dates = (call.write_date, call.legs[0].write_date,
            call.interaction.write_date)
        second = Call.ingest_facts([answered_fact()])

        self.assertEqual(first, second)
        self.assertEqual(self.counts(), before)
        self.assertEqual(before[:3], (1, 1, 1))
        call, = Call.browse(second)
        self.assertEqual((call.write_date, call.legs[0].write_date,
                call.interaction.write_date), write_dates)

    @with_transaction()
    def test_corrected_fact_updates_in_place(self):
        "A later fact for the same call updates the record and its legs"
        Call = Pool().get('cc.call')
        self.setup_center()
        call_id, = Call.ingest_facts([answered_fact(recording=None)])
        leg_id = Call(call_id).legs[0].id

        legs = answered_fact()['legs']
        legs[0]['hold_seconds'] = 20.0
        legs[0]['talk_seconds'] = 40.0
        Call.ingest_facts([answered_fact(legs=legs)])

        call = Call(call_id)
        self.assertEqual(call.recording, 'rec/1700000000.1.wav')
        self.assertEqual([leg.id for leg in call.legs], [leg_id])
        self.assertEqual((call.hold_seconds, call.talk_seconds), (20.0, 40.0))

    @with_transaction()
    def test_abandoned_call_without_customer(self):
        "An abandoned call of an unknown number keeps position and region"
        Call = Pool().get('cc.call')
        self.setup_center()
        call_id, = Call.ingest_facts([answered_fact(
                    caller='02087654321', answer_time=None,
                    result='abandoned', abandon_position=3,
                    wait_seconds=45.0, recording=None, legs=[])])
        call = Call(call_id)
        self.assertEqual(call.result, 'abandoned')
        self.assertEqual(call.abandon_position, 3)
        self.assertFalse(call.within_service_level)
        self.assertIsNone(call.party)
        self.assertEqual(list(call.candidates), [])
        self.assertEqual(call.caller_number, '+862087654321')
        self.assertIn('广州', call.caller_region)
        self.assertIsNone(call.agent)
        self.assertEqual(call.interaction.summary, 'Abandoned / Sales / IVR 1>2')

    @with_transaction()
    def test_shared_number_lists_candidates(self):
        "Two customers share the number: none is chosen, both are offered"
        pool = Pool()
        Call = pool.get('cc.call')
        Party = pool.get('party.party')
        _, _, _, party = self.setup_center()
        other, = Party.create([{
                    'name': "李四",
                    'contact_mechanisms': [('create', [{
                                    'type': 'phone', 'value': E164}])],
                    }])
        call, = Call.browse(Call.ingest_facts([answered_fact()]))
        self.assertIsNone(call.party)
        self.assertEqual(set(call.candidates), {party, other})

        # The agent's pick survives a repeated fact.
        Call.write([call], {'party': other.id})
        Call.ingest_facts([answered_fact()])
        self.assertEqual(Call(call.id).party, other)

    @with_transaction()
    def test_transfer_legs(self):
        "A blind transfer: two legs, figures summed, last agent handles"
        Call = Pool().get('cc.call')
        _, alice, bob, _ = self.setup_center()
        fact = answered_fact(result='transferred', end_time=at(130),
            legs=blind_transfer_legs())
        call, = Call.browse(Call.ingest_facts([fact]))
        self.assertEqual(call.result, 'transferred')
        self.assertEqual(call.agent, bob)
        self.assertEqual([leg.agent for leg in call.legs], [alice, bob])
        self.assertEqual(call.legs[0].transfer_target, '8002')
        self.assertEqual(
            (call.ring_seconds, call.talk_seconds, call.hold_seconds),
            (10.0, 107.0, 5.0))

    @with_transaction()
    def test_unknown_queue_and_agent_are_kept_raw(self):
        "Facts about objects not configured here are stored, not dropped"
        Call = Pool().get('cc.call')
        self.setup_center()
        legs = answered_fact()['legs']
        legs[0]['agent_interface'] = 'PJSIP/9999'
        call, = Call.browse(Call.ingest_facts([answered_fact(
                        queue='vip-line', legs=legs)]))
        self.assertIsNone(call.queue)
        self.assertEqual(call.queue_code, 'vip-line')
        self.assertIsNone(call.legs[0].agent)
        self.assertEqual(call.legs[0].interface, 'PJSIP/9999')
        self.assertFalse(call.within_service_level)

    @with_transaction()
    def test_internal_call_has_no_contact(self):
        Call = Pool().get('cc.call')
        self.setup_center()
        call, = Call.browse(Call.ingest_facts([answered_fact(
                        direction='internal', caller='8002', dnis='8001')]))
        self.assertIsNone(call.interaction)
        self.assertIsNone(call.party)

    @with_transaction()
    def test_outbound_call_matches_dialled_customer(self):
        Call = Pool().get('cc.call')
        _, _, _, party = self.setup_center()
        call, = Call.browse(Call.ingest_facts([answered_fact(
                        direction='outbound', caller='8001', dnis=CALLER,
                        queue=None)]))
        self.assertEqual(call.party, party)
        self.assertEqual(call.interaction.direction, 'outbound')
        self.assertEqual(call.interaction.number, CALLER)

    @with_transaction()
    def test_decision_then_fact(self):
        "The router's decision stays on the call the bridge completes"
        Call = Pool().get('cc.call')
        _, _, _, party = self.setup_center()
        decision = routing_decision(priority=15, agent='PJSIP/8001',
            target=None, reason='service,vip,affinity',
            explanation=["VIP caller.", "Affinity."])
        Call.record_decisions([decision])
        call, = Call.search([])
        self.assertEqual(call.state, 'live')
        self.assertEqual(call.party, party)
        self.assertEqual(call.routing_explanation, "VIP caller.\nAffinity.")

        Call.record_decisions([decision])
        Call.ingest_facts([answered_fact()])
        call, = Call.search([])
        self.assertEqual(call.state, 'ended')
        self.assertEqual(call.routing_action, 'queue')
        self.assertEqual(call.routing_priority, 15)
        self.assertEqual(call.routing_agent, 'PJSIP/8001')
        self.assertEqual(call.routing_reason, 'service,vip,affinity')
        self.assertEqual(call.routed_at, at(0))
        self.assertEqual(call.result, 'answered')

    @with_transaction()
    def test_late_decision_keeps_the_queue_the_call_waited_in(self):
        "A decision stored after the facts does not move the call"
        pool = Pool()
        Call = pool.get('cc.call')
        Queue = pool.get('cc.queue')
        self.setup_center()
        backup, = Queue.create([{'name': "Backup", 'code': 'backup'}])
        fact = answered_fact()
        fact['queue'] = 'backup'
        Call.ingest_facts([fact])
        Call.record_decisions([routing_decision(queue='sales')])
        call, = Call.search([])
        self.assertEqual((call.queue, call.queue_code, call.routing_queue),
            (backup, 'backup', 'sales'))

    @with_transaction()
    def test_writers_racing_for_a_call_are_told_to_retry(self):
        "Bridge and router creating one call at once: a retry stores it"
        from trytond import backend
        from trytond.modules.cc_telephony.bridge import is_transient
        from trytond.modules.cc_telephony.call import is_call_race
        if backend.name != 'postgresql':
            self.skipTest('SQLite serialises writers before they read')
        Call = Pool().get('cc.call')
        transaction = Transaction()
        try:
            Call.search([])     # the bridge's transaction has read
            with transaction.new_transaction() as router:
                Call.record_decisions([routing_decision()])
                router.commit()
            with self.assertRaises(Exception) as caught:
                Call.ingest_facts([answered_fact()])
            self.assertTrue(is_call_race(caught.exception))
            self.assertTrue(is_transient(caught.exception))
            transaction.rollback()
            with transaction.new_transaction():
                Call.ingest_facts([answered_fact()])
                self.assertEqual(Call.search_count([]), 1)
        finally:
            with transaction.new_transaction() as cleanup:
                Call.delete(Call.search([]))
                cleanup.commit()

    @with_transaction()
    def test_fact_then_decision(self):
        "A late decision only fills the routing fields"
        Call = Pool().get('cc.call')
        self.setup_center()
        Call.ingest_facts([answered_fact()])
        Call.record_decisions([routing_decision(action='callback',
                    priority=1, reason='busy', explanation=["All busy."])])
        call, = Call.search([])
        self.assertEqual(
            (call.state, call.result, call.routing_action),
            ('ended', 'answered', 'callback'))

    @with_transaction()
    def test_decision_gives_new_call_its_dialled_number(self):
        "A call the router records first shows its dialled number and service"
        pool = Pool()
        Call = pool.get('cc.call')
        Dnis = pool.get('cc.dnis')
        sales, _, _, _ = self.setup_center()
        service, = Dnis.create([{
                    'number': '95588', 'service': "Hotline",
                    'queue': sales.id}])
        Call.record_decisions([routing_decision(service='95588')])
        call, = Call.search([])
        self.assertEqual((call.dnis, call.service), ('95588', service))

        Call.ingest_facts([answered_fact()])
        call, = Call.search([])
        self.assertEqual((call.dnis, call.service), ('95588', service))

    @with_transaction()
    def test_late_decision_keeps_bridge_dialled_number(self):
        "A decision on a call the bridge recorded leaves its dialled number"
        Call = Pool().get('cc.call')
        self.setup_center()
        Call.ingest_facts([answered_fact(dnis='4008895588')])
        Call.record_decisions([routing_decision()])
        call, = Call.search([])
        self.assertEqual(call.dnis, '4008895588')

    @with_transaction()
    def test_intervals_idempotent(self):
        "Intervals are stored once, with agent, reason and duration"
        pool = Pool()
        State = pool.get('cc.agent.state')
        Reason = pool.get('cc.agent.reason')
        _, alice, _, _ = self.setup_center()
        intervals = [
            interval('ready', at(-60), at(8)),
            interval('not_ready', at(200), at(500), reason='meal'),
            interval('not_ready', at(500), at(560), reason='nap'),
            ]
        first = State.ingest_intervals(intervals + intervals[:1])
        second = State.ingest_intervals(intervals)
        self.assertEqual(sorted(first), sorted(second))
        self.assertEqual(State.search_count([]), 3)
        meal, = State.search([('reason_code', '=', 'meal')])
        self.assertEqual(meal.agent, alice)
        self.assertEqual(meal.reason, Reason(
                pool.get('ir.model.data').get_id(
                    'cc_telephony', 'reason_meal')))
        self.assertEqual(meal.duration_seconds, 300.0)
        nap, = State.search([('reason_code', '=', 'nap')])
        self.assertIsNone(nap.reason)

    @with_transaction()
    def test_wrapup_joins_leg_in_any_order(self):
        "The wrap-up interval gives its length to the leg it follows"
        pool = Pool()
        Call = pool.get('cc.call')
        State = pool.get('cc.agent.state')
        self.setup_center()
        wrapup = interval('wrap_up', at(72), at(87))

        # Call first, then its wrap-up.
        call_id, = Call.ingest_facts([answered_fact()])
        State.ingest_intervals([wrapup])
        self.assertEqual(Call(call_id).legs[0].wrapup_seconds, 15.0)
        self.assertEqual(Call(call_id).wrapup_seconds, 15.0)

        # Wrap-up first (a spool replayed out of step), then the call.
        State.ingest_intervals([interval('wrap_up', at(1072), at(1082))])
        other_id, = Call.ingest_facts([answered_fact(
                    '1700000000.2', enter_time=at(1000), answer_time=at(1010),
                    end_time=at(1072), legs=[dict(answered_fact()['legs'][0],
                            ring_start=at(1005), answer_time=at(1010),
                            end_time=at(1072))])])
        self.assertEqual(Call(other_id).wrapup_seconds, 10.0)
        # Repeating both changes nothing.
        State.ingest_intervals([wrapup])
        Call.ingest_facts([answered_fact()])
        self.assertEqual(Call(call_id).wrapup_seconds, 15.0)

    @with_transaction()
    def test_live_states(self):
        "The bridge's live states land on the agents, unknown ones ignored"
        pool = Pool()
        Agent = pool.get('cc.agent')
        _, alice, bob, _ = self.setup_center()
        Agent.update_live_states([
                {'interface': 'PJSIP/8001', 'state': 'not_ready',
                    'reason': 'break', 'since': at(5)},
                {'interface': 'PJSIP/8002', 'state': 'talking',
                    'reason': None, 'since': at(6)},
                {'interface': 'PJSIP/7777', 'state': 'ready',
                    'reason': None, 'since': at(7)},
                ])
        self.assertEqual(
            (alice.state, alice.state_reason.code, alice.state_since),
            ('not_ready', 'break', at(5)))
        self.assertEqual((bob.state, bob.state_since), ('talking', at(6)))

    def store_both_ways(self, facts, intervals, uniqueid_suffix):
        """Store ``facts`` and ``intervals`` through the ORM ingest, then
        the same with keys and unique ids suffixed through the set-based
        one; return what each stored, comparable."""
        pool = Pool()
        Call = pool.get('cc.call')
        State = pool.get('cc.agent.state')

        def renamed(items, key):
            return [dict(i, **{key: i[key] + uniqueid_suffix})
                for i in items]

        def snapshot(call_ids, state_ids):
            calls = []
            for call in Call.browse(call_ids):
                values = {n: getattr(call, n) for n in Call.FACT_COLUMNS
                    + ['pbx', 'routed_at']}
                values['candidates'] = sorted(c.id for c in call.candidates)
                values['legs'] = [{n: getattr(leg, n) for n in
                        ['interface', 'ring_start'] + Call.LEG_COLUMNS}
                    for leg in call.legs]
                interaction = call.interaction
                values['interaction'] = interaction and {
                    n: getattr(interaction, n) for n in
                    Call.INTERACTION_COLUMNS if n != 'origin'}
                if interaction:
                    self.assertEqual(interaction.origin, call)
                calls.append(values)
            states = [{n: getattr(s, n) for n in State.COLUMNS}
                for s in State.browse(state_ids)]
            return calls, states

        with Transaction().set_context(cc_ingest_orm=True):
            state_ids = State.ingest_intervals(intervals)
            call_ids = Call.ingest_facts(facts)
        orm = snapshot(call_ids, state_ids)
        state_ids = State.ingest_intervals(renamed(intervals, 'key'))
        call_ids = Call.ingest_facts(renamed(facts, 'uniqueid'))
        return orm, snapshot(call_ids, state_ids)

    @with_transaction()
    def test_set_based_ingest_stores_what_the_orm_stores(self):
        "The set-based ingest stores exactly what the ORM ingest stored"
        pool = Pool()
        Party = pool.get('party.party')
        self.setup_center()
        Party.create([{'name': "李四", 'contact_mechanisms': [('create', [{
                                'type': 'phone', 'value': '02087654321'}])]},
                {'name': "王五", 'contact_mechanisms': [('create', [{
                                'type': 'phone', 'value': '02087654321'}])]}])
        legs = blind_transfer_legs()
        facts = [
            answered_fact('a.1'),
            answered_fact('a.2', result='transferred', end_time=at(130),
                legs=legs, caller='02087654321'),
            answered_fact('a.3', caller='02012345678', answer_time=None,
                result='abandoned', abandon_position=2, legs=[]),
            answered_fact('a.4', direction='outbound', caller='8001',
                dnis=CALLER, queue=None),
            answered_fact('a.5', direction='internal', caller='8002',
                dnis='8001'),
            answered_fact('a.6', queue='vip-line', wait_seconds=30.5),
            ]
        intervals = [
            interval('ready', at(-60), at(8)),
            interval('wrap_up', at(72), at(87)),
            interval('wrap_up', at(130), at(140.5), interface='PJSIP/8002'),
            interval('not_ready', at(200), at(500), reason='meal'),
            interval('not_ready', at(500), at(560), reason='nap', queue=None),
            ]
        orm, set_based = self.store_both_ways(facts, intervals, '-set')
        self.assertEqual(set_based, orm)
        # The wrap-ups reached the legs and the call totals.
        self.assertEqual(set_based[0][0]['wrapup_seconds'], 15.0)
        self.assertEqual(set_based[0][1]['wrapup_seconds'], 10.5)

    @with_transaction()
    def test_set_based_ingest_fills_create_and_write_columns(self):
        "Rows written with SQL carry who and when, like ModelSQL's"
        pool = Pool()
        Call = pool.get('cc.call')
        State = pool.get('cc.agent.state')
        self.setup_center()
        State.ingest_intervals([interval('ready', at(-60), at(8))])
        call, = Call.browse(Call.ingest_facts([answered_fact()]))
        state, = State.search([])
        for record in [call, call.legs[0], call.interaction, state]:
            self.assertEqual(record.create_uid.id, Transaction().user)
            self.assertTrue(record.create_date)
        self.assertIsNone(call.legs[0].write_date)

        legs = answered_fact()['legs']
        legs[0]['talk_seconds'] = 45.0
        Call.ingest_facts([answered_fact(legs=legs)])
        call = Call(call.id)
        self.assertTrue(call.legs[0].write_date)
        self.assertEqual(call.write_uid.id, Transaction().user)
        self.assertEqual(call.talk_seconds, 45.0)

    @with_transaction()
    def test_invalid_fact_is_refused_before_any_write(self):
        "A fact the database cannot take raises and stores nothing"
        pool = Pool()
        Call = pool.get('cc.call')
        State = pool.get('cc.agent.state')
        self.setup_center()
        bad_legs = answered_fact()['legs']
        bad_legs[0]['result'] = 'exploded'
        for bad in [
                answered_fact('b.1', direction='sideways'),
                answered_fact('b.2', end_time=at(-10)),
                answered_fact('b.3', legs=bad_legs),
                answered_fact('b.4', wait_seconds='12 s'),
                answered_fact('b.5', enter_time='2026-03-02'),
                {'direction': 'inbound'},
                ]:
            with self.subTest(bad=bad.get('uniqueid')):
                with self.assertRaises(ValidationError):
                    Call.ingest_facts([answered_fact('good'), bad])
        with self.assertRaises(ValidationError):
            State.ingest_intervals([interval('ready', at(0), at(8)),
                    interval('dancing', at(8), at(9))])
        self.assertEqual(self.counts(), (0, 0, 0, 0))

    @with_transaction()
    def test_agent_cannot_ingest(self):
        "Ingestion needs create access: an agent over RPC is refused"
        pool = Pool()
        Call = pool.get('cc.call')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        self.setup_center()
        agent_user, = User.create([{
                    'name': "Agent", 'login': 'agent',
                    'groups': [('add', [ModelData.get_id(
                                    'cc_base', 'group_cc_agent')])]}])
        with as_user(agent_user):
            with self.assertRaises(AccessError):
                Call.ingest_facts([answered_fact()])
        self.assertEqual(Call.search_count([]), 0)

    @with_transaction()
    def test_agent_changes_only_the_customer_of_a_call(self):
        "Over RPC an agent picks the call's customer and nothing else"
        pool = Pool()
        Call = pool.get('cc.call')
        Party = pool.get('party.party')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        self.setup_center()
        Call.ingest_facts([answered_fact()])
        call, = Call.search([])
        other, = Party.create([{'name': "Other"}])
        agent_user, = User.create([{
                    'name': "Agent", 'login': 'agent',
                    'groups': [('add', [ModelData.get_id(
                                    'cc_base', 'group_cc_agent')])]}])
        with as_user(agent_user):
            Call.write([Call(call.id)], {'party': other.id})
            for values in [{'result': 'abandoned'}, {'talk_seconds': 1},
                    {'party': None, 'agent': None}]:
                with self.subTest(values=values), \
                        self.assertRaises(AccessError):
                    Call.write([Call(call.id)], values)
        call = Call(call.id)
        self.assertEqual((call.party, call.result), (other, 'answered'))

    @with_transaction()
    def test_live_states_are_the_bridges(self):
        "Supervisors cannot set the live states routing relies on"
        pool = Pool()
        Agent = pool.get('cc.agent')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        self.setup_center()
        agent = Agent.search([], limit=1)[0]
        supervisor, = User.create([{
                    'name': "Supervisor", 'login': 'supervisor',
                    'groups': [('add', [ModelData.get_id(
                                    'cc_base', 'group_cc_supervisor')])]}])
        with as_user(supervisor), self.assertRaises(AccessError):
            Agent.update_live_states([{'interface': agent.interface,
                        'state': 'ready', 'since': T0}])

    @with_transaction()
    def test_secret_readable_by_admins_only(self):
        "The AMI secret is hidden from supervisors"
        pool = Pool()
        Pbx = pool.get('cc.pbx')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        pbx, = Pbx.create([{'name': "Main", 'code': 'main',
                    'ami_username': 'cc', 'ami_secret': 's3cret'}])
        supervisor, admin = User.create([{
                    'name': name, 'login': name,
                    'groups': [('add', [ModelData.get_id('cc_base', group)])],
                    } for name, group in [
                    ('supervisor', 'group_cc_supervisor'),
                    ('ccadmin', 'group_cc_admin')]])
        with as_user(supervisor):
            self.assertEqual(Pbx.read([pbx.id], ['name'])[0]['name'], "Main")
            with self.assertRaises(AccessError):
                Pbx.read([pbx.id], ['ami_secret'])
        with as_user(admin):
            self.assertEqual(
                Pbx.read([pbx.id], ['ami_secret'])[0]['ami_secret'], 's3cret')
