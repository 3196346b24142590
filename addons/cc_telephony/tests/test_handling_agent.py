"""A call's agent (cc.call.agent) is the agent who last had the caller.

Not the agent of the last answered leg: an agent consulted during an
attended transfer that was then given up answered last, but the caller
stayed with the agent who consulted. The cases, from facts written by hand
and from facts the tracker made of the PBX simulator's events."""
import datetime as dt

from trytond.pool import Pool
from trytond.tests.test_tryton import (
    TestCase, activate_module, with_transaction)

from .test_tracker import (
    ALICE, CAROL, TWO_QUEUES, agent_to_agent, call, legs_of, login, simulate)

T0 = dt.datetime(2026, 3, 2, 2, 0, 0)
DAVE = 'PJSIP/1004'


def at(seconds):
    return T0 + dt.timedelta(seconds=seconds)


def leg(interface, ring, answer, end, result='completed', target=None):
    "A leg of a call fact: ringing from ``ring`` s, answered (or not), ended."
    return {'agent_interface': interface, 'ring_start': at(ring),
        'answer_time': at(answer) if answer is not None else None,
        'end_time': at(end),
        'ring_seconds': float((answer if answer is not None else end) - ring),
        'talk_seconds': float(end - answer) if answer is not None else 0.0,
        'hold_seconds': 0.0, 'result': result, 'transfer_target': target}


def fact(uniqueid, legs, result='answered'):
    return {'uniqueid': uniqueid, 'linkedid': uniqueid,
        'direction': 'inbound', 'caller_raw': '13800138000', 'dnis': '95588',
        'queue': 'sales', 'enter_time': at(0), 'answer_time': at(13),
        'end_time': max(part['end_time'] for part in legs), 'result': result,
        'wait_seconds': 3.0, 'legs': legs}


# Alice answers at 13 s; Carol's phone rings from 28 s (the transfer at 15 s
# with 3 s of ringing, or at 33 s when blind), as in the simulator.
CASES = {
    'answered': (ALICE, [leg(ALICE, 10, 13, 73)]),
    'blind transfer': (CAROL, [
            leg(ALICE, 10, 13, 33, 'transferred_blind', '1003'),
            leg(CAROL, 33, 37, 67)]),
    'attended transfer': (CAROL, [
            leg(ALICE, 10, 13, 41, 'transferred_attended', CAROL),
            leg(CAROL, 28, 31, 71)]),
    'consult given up': (ALICE, [
            leg(ALICE, 10, 13, 71), leg(CAROL, 28, 31, 41)]),
    'ring no answer, then answered': (CAROL, [
            leg(ALICE, 10, None, 25, 'ring_no_answer'),
            leg(CAROL, 27, 30, 90)]),
    # The caller hangs up while Alice consults Carol, who talks on.
    'caller gone during the consult': (ALICE, [
            leg(ALICE, 10, 13, 35), leg(CAROL, 28, 31, 45)]),
    # A consultation given up, then a blind transfer to Dave; the legs come
    # in no particular order.
    'consult given up, then transferred': (DAVE, [
            leg(DAVE, 60, 62, 120),
            leg(CAROL, 28, 31, 41),
            leg(ALICE, 10, 13, 60, 'transferred_blind', '1004')]),
    'attended transfer, then consult given up': (CAROL, [
            leg(ALICE, 10, 13, 41, 'transferred_attended', CAROL),
            leg(CAROL, 28, 31, 100), leg(DAVE, 50, 52, 70)]),
    }


def cancelled_consult():
    "Alice consults Carol from 15 s, Carol talks from 31 s to 41 s."
    return agent_to_agent({'kind': 'attended', 'at': 15, 'target': '1003',
        'ring': 3, 'consult': 10, 'after': 30, 'cancel': True})


def test_simulated_consult_given_up():
    "The simulator's cancelled consult, as the tracker sees it"
    _, facts, tracker = cancelled_consult()
    (fact,) = facts.calls
    assert fact['result'] == 'answered'
    assert legs_of(fact) == [
        (ALICE, 3.0, 58.0, 'completed', None, 10, 71),
        (CAROL, 3.0, 10.0, 'completed', None, 28, 41)]
    assert facts.states(ALICE)[-2:] == [
        ('talking', None, 'sales', 13, 71),
        ('wrap_up', None, 'sales', 71, 81)]
    assert facts.states(CAROL) == [
        ('ready', None, None, 0, 28), ('ringing', None, 'sales', 28, 31),
        ('talking', None, 'sales', 31, 41),
        ('wrap_up', None, 'sales', 41, 51)]
    assert tracker.calls == {} and tracker.channel_call == {}


class HandlingAgentTestCase(TestCase):
    "The handling agent of stored calls"
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('cc_telephony')

    def agents(self):
        "{interface: cc.agent} of Alice, Carol and Dave."
        Agent = Pool().get('cc.agent')
        interfaces = [ALICE, CAROL, DAVE]
        return dict(zip(interfaces, Agent.create(
                    [{'interface': i} for i in interfaces])))

    def handling_agents(self, facts):
        "The interface of each stored call's agent, in the facts' order."
        Call = Pool().get('cc.call')
        calls = Call.browse(Call.ingest_facts(facts))
        return [c.agent.interface if c.agent else None for c in calls]

    @with_transaction()
    def test_facts(self):
        "Each case of facts gives the agent who last had the caller"
        self.agents()
        names = list(CASES)
        found = self.handling_agents([fact(f'h.{n}', CASES[name][1])
                for n, name in enumerate(names)])
        self.assertEqual(dict(zip(names, found)),
            {name: CASES[name][0] for name in names})

    @with_transaction()
    def test_unanswered_call_has_no_agent(self):
        self.agents()
        self.assertEqual(self.handling_agents([fact('h.0', [
                            leg(ALICE, 10, None, 25, 'ring_no_answer')],
                        result='abandoned')]), [None])

    @with_transaction()
    def test_simulated_calls(self):
        "The same rule on what the tracker made of the simulator's calls"
        self.agents()
        ring_no_answer = simulate([login(ALICE), login(CAROL),
                call(10, talk=60, no_answer=[ALICE])],
            queues=TWO_QUEUES, until=300)[1]
        simulated = {
            'answered': simulate([login(ALICE), call(10, talk=60)])[1],
            'blind transfer': agent_to_agent({'kind': 'blind', 'at': 20,
                    'target': '1003', 'ring': 4, 'after': 30})[1],
            'attended transfer': agent_to_agent({'kind': 'attended',
                    'at': 15, 'target': '1003', 'ring': 3, 'consult': 10,
                    'after': 30})[1],
            'consult given up': cancelled_consult()[1],
            'ring no answer, then answered': ring_no_answer,
            }
        facts = []
        for n, recorder in enumerate(simulated.values()):
            (call_fact,) = recorder.calls
            facts.append(dict(call_fact, uniqueid=f'h.{n}',
                    linkedid=f'h.{n}'))
        found = self.handling_agents(facts)
        self.assertEqual(dict(zip(simulated, found)), {
                'answered': ALICE, 'blind transfer': CAROL,
                'attended transfer': CAROL, 'consult given up': ALICE,
                'ring no answer, then answered': CAROL})
        # The ring-no-answer case did ring Alice first.
        self.assertEqual([part['result'] for part in facts[-1]['legs']],
            ['ring_no_answer', 'completed'])
