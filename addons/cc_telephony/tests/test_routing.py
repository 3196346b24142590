"Tests of the pure routing engine (no database)."
import datetime as dt
import unittest

from trytond.modules.cc_telephony.routing import (
    VARIABLES, Agent, Caller, Policy, Queue, QueueLoad, Request, Service,
    decide)

NOW = dt.datetime(2026, 3, 2, 2, 0)  # a Monday, 10:00 in Shanghai


class Calendar:
    "Stands for a BusinessCalendar: open or closed whatever the moment."

    def __init__(self, open_):
        self.open = open_
        self.asked = []

    def is_open(self, moment):
        self.asked.append(moment)
        return self.open


def request(caller=Caller(number='+8613800138000'), dnis='95588',
        queues=None, services=None, agents=(), **kwargs):
    if queues is None:
        queues = {'sales': Queue('sales', priority=1)}
    if services is None:
        services = {'95588': Service('95588', "Sales", 'sales')}
    return Request(caller=caller, dnis=dnis, now=kwargs.pop('now', NOW),
        queues=queues, services=services, agents=tuple(agents), **kwargs)


def agent(interface, state='ready', queues=None, skills=None, since=None):
    return Agent(interface, state, skills=skills or {},
        queues={'sales': 0} if queues is None else queues,
        state_since=since)


class ServiceTestCase(unittest.TestCase):

    def test_dnis_selects_service_queue(self):
        queues = {'sales': Queue('sales'), 'support': Queue('support')}
        services = {'95588': Service('95588', "Support", 'support',
                announcement='welcome-support')}
        decision = decide(request(queues=queues, services=services))
        self.assertEqual(decision.queue, 'support')
        self.assertEqual(decision.service, '95588')
        self.assertEqual(decision.announce, 'welcome-support')
        self.assertEqual(decision.action, 'queue')
        self.assertIn('service', decision.reasons)

    def test_unknown_dnis_goes_to_default_queue(self):
        decision = decide(request(dnis='12345',
                policy=Policy(default_queue='sales')))
        self.assertEqual(decision.queue, 'sales')
        self.assertEqual(decision.reasons, ['default_queue', 'pbx_distribution'])

    def test_no_queue_at_all_is_voicemail(self):
        decision = decide(request(dnis='12345'))
        self.assertEqual(decision.action, 'voicemail')
        self.assertEqual(decision.target, 'voicemail')
        self.assertIsNone(decision.queue)
        self.assertEqual(decision.reasons, ['no_queue'])

    def test_service_priority_adds_to_queue_priority(self):
        services = {'95588': Service('95588', "Sales", 'sales', priority=3)}
        decision = decide(request(services=services))
        self.assertEqual(decision.priority, 4)

    def test_queue_announcement_when_service_has_none(self):
        queues = {'sales': Queue('sales', announcement='sales-welcome')}
        self.assertEqual(
            decide(request(queues=queues)).announce, 'sales-welcome')


class ListTestCase(unittest.TestCase):

    def test_blacklisted_caller_is_rejected(self):
        caller = Caller(number='+8613800138000', list_status='black',
            vip=True, routing_priority=10)
        decision = decide(request(caller=caller, agents=[agent('PJSIP/1')]))
        self.assertEqual(decision.action, 'reject')
        self.assertEqual(decision.target, 'reject')
        self.assertIsNone(decision.queue)
        self.assertIsNone(decision.agent)
        self.assertEqual(decision.reasons, ['service', 'blacklist'])

    def test_blacklisted_caller_to_ivr_when_configured(self):
        caller = Caller(list_status='black')
        decision = decide(request(caller=caller, policy=Policy(
                    blacklist_action='ivr', blacklist_ivr='7000')))
        self.assertEqual((decision.action, decision.target), ('ivr', '7000'))

    def test_blacklist_ivr_without_menu_rejects(self):
        decision = decide(request(caller=Caller(list_status='black'),
                policy=Policy(blacklist_action='ivr')))
        self.assertEqual(decision.action, 'reject')

    def test_blacklist_wins_over_closed_hours(self):
        queues = {'sales': Queue('sales', calendar=Calendar(False))}
        decision = decide(request(caller=Caller(list_status='black'),
                queues=queues))
        self.assertEqual(decision.action, 'reject')

    def test_red_list_raises_priority(self):
        decision = decide(request(caller=Caller(list_status='red'),
                policy=Policy(red_list_boost=7)))
        self.assertEqual(decision.priority, 1 + 7)
        self.assertIn('red_list', decision.reasons)


class PriorityTestCase(unittest.TestCase):

    def test_tier_priority_adds(self):
        decision = decide(request(caller=Caller(routing_priority=5)))
        self.assertEqual(decision.priority, 6)
        self.assertIn('tier', decision.reasons)

    def test_vip_raises_priority_and_gets_a_human(self):
        caller = Caller(vip=True, routing_priority=10)
        agents = [agent('PJSIP/1', since=NOW - dt.timedelta(minutes=1)),
            agent('PJSIP/2', since=NOW - dt.timedelta(minutes=5))]
        decision = decide(request(caller=caller, agents=agents,
                policy=Policy(vip_boost=20)))
        self.assertEqual(decision.priority, 1 + 10 + 20)
        self.assertEqual(decision.agent, 'PJSIP/2')  # longest idle
        self.assertEqual(decision.action, 'queue')
        self.assertEqual(decision.reasons,
            ['service', 'tier', 'vip', 'longest_idle'])

    def test_vip_waits_when_all_busy_instead_of_callback(self):
        queues = {'sales': Queue('sales', busy_action='callback')}
        decision = decide(request(caller=Caller(vip=True), queues=queues,
                agents=[agent('PJSIP/1', state='talking')]))
        self.assertEqual(decision.action, 'queue')
        self.assertEqual(decision.queue, 'sales')
        self.assertNotIn('busy', decision.reasons)
        self.assertIn('VIP caller waits', decision.explanation[-1])

    def test_plain_caller_gets_no_preferred_agent(self):
        decision = decide(request(agents=[agent('PJSIP/1')]))
        self.assertIsNone(decision.agent)
        self.assertEqual(decision.priority, 1)


class OpeningHoursTestCase(unittest.TestCase):

    def test_open_queue_is_asked_with_now(self):
        calendar = Calendar(True)
        queues = {'sales': Queue('sales', calendar=calendar)}
        decision = decide(request(queues=queues))
        self.assertEqual(decision.action, 'queue')
        self.assertEqual(calendar.asked, [NOW])

    def test_closed_queue_night_voicemail(self):
        queues = {'sales': Queue('sales', calendar=Calendar(False),
                night_kind='voicemail', night_target='8000')}
        decision = decide(request(queues=queues, agents=[agent('PJSIP/1')]))
        self.assertEqual(decision.action, 'night')
        self.assertEqual(decision.target, 'voicemail')
        self.assertEqual(decision.mailbox, '8000')
        self.assertIsNone(decision.queue)
        self.assertIsNone(decision.agent)
        self.assertEqual(decision.variables()['CC_MAILBOX'], '8000')
        self.assertIn('closed', decision.reasons)

    def test_closed_queue_night_ivr(self):
        queues = {'sales': Queue('sales', calendar=Calendar(False),
                night_kind='ivr', night_target='7100')}
        decision = decide(request(queues=queues))
        self.assertEqual((decision.action, decision.target), ('night', '7100'))

    def test_closed_queue_night_queue_routes_there(self):
        queues = {
            'sales': Queue('sales', calendar=Calendar(False),
                night_kind='queue', night_queue='night'),
            'night': Queue('night', priority=2, skills={'cn': (2, 1)}),
            }
        agents = [agent('PJSIP/9', queues={'night': 0}, skills={'cn': 3})]
        decision = decide(request(queues=queues, agents=agents))
        self.assertEqual(decision.action, 'night')
        self.assertEqual(decision.queue, 'night')
        self.assertEqual(decision.priority, 2)
        self.assertEqual(decision.agent, 'PJSIP/9')
        self.assertEqual(decision.target, None)

    def test_closed_night_queue_also_closed_falls_back_to_voicemail(self):
        queues = {
            'sales': Queue('sales', calendar=Calendar(False),
                night_kind='queue', night_queue='night',
                voicemail_box='8001'),
            'night': Queue('night', calendar=Calendar(False)),
            }
        decision = decide(request(queues=queues))
        self.assertEqual(decision.action, 'night')
        self.assertEqual(decision.target, 'voicemail')
        self.assertEqual(decision.mailbox, '8001')


class AffinityTestCase(unittest.TestCase):

    def test_last_agent_ready_is_preferred(self):
        agents = [agent('PJSIP/1'), agent('PJSIP/2')]
        decision = decide(request(agents=agents, last_agent='PJSIP/2',
                last_agent_at=NOW - dt.timedelta(days=3)))
        self.assertEqual(decision.agent, 'PJSIP/2')
        self.assertIn('affinity', decision.reasons)

    def test_last_agent_too_long_ago_is_ignored(self):
        agents = [agent('PJSIP/1'), agent('PJSIP/2')]
        decision = decide(request(agents=agents, last_agent='PJSIP/2',
                last_agent_at=NOW - dt.timedelta(days=31),
                policy=Policy(affinity_days=30)))
        self.assertIsNone(decision.agent)
        self.assertNotIn('affinity', decision.reasons)

    def test_last_agent_busy_is_not_awaited(self):
        agents = [agent('PJSIP/1'), agent('PJSIP/2', state='talking')]
        decision = decide(request(agents=agents, last_agent='PJSIP/2',
                last_agent_at=NOW - dt.timedelta(days=1)))
        self.assertIsNone(decision.agent)
        self.assertIn('talking: not waiting', ' '.join(decision.explanation))

    def test_last_agent_lacking_skill_is_not_preferred(self):
        queues = {'sales': Queue('sales', skills={'billing': (3, 1)})}
        agents = [agent('PJSIP/1', skills={'billing': 4}),
            agent('PJSIP/2', skills={'billing': 2})]
        decision = decide(request(queues=queues, agents=agents,
                last_agent='PJSIP/2', last_agent_at=NOW))
        self.assertEqual(decision.agent, 'PJSIP/1')
        self.assertEqual(decision.reasons, ['service', 'skills'])

    def test_affinity_beats_skill_ranking(self):
        queues = {'sales': Queue('sales', skills={'billing': (1, 1)})}
        agents = [agent('PJSIP/1', skills={'billing': 5}),
            agent('PJSIP/2', skills={'billing': 1})]
        decision = decide(request(queues=queues, agents=agents,
                last_agent='PJSIP/2', last_agent_at=NOW))
        self.assertEqual(decision.agent, 'PJSIP/2')


class SkillsTestCase(unittest.TestCase):

    def test_best_weighted_proficiency_wins(self):
        queues = {'sales': Queue('sales', strategy='skills_weighted',
                skills={'billing': (1, 3), 'english': (1, 1)})}
        agents = [
            agent('PJSIP/1', skills={'billing': 2, 'english': 5}),  # 11
            agent('PJSIP/2', skills={'billing': 4, 'english': 1}),  # 13
            agent('PJSIP/3', skills={'billing': 5, 'english': 5},
                state='talking'),
            ]
        decision = decide(request(queues=queues, agents=agents))
        self.assertEqual(decision.agent, 'PJSIP/2')
        self.assertIn('billing 4, english 1', decision.explanation[-1])

    def test_minimum_proficiency_filters(self):
        queues = {'sales': Queue('sales', skills={'billing': (4, 1)},
                busy_action='callback')}
        agents = [agent('PJSIP/1', skills={'billing': 3}),
            agent('PJSIP/2', skills={})]
        decision = decide(request(queues=queues, agents=agents))
        self.assertIsNone(decision.agent)
        # Nobody qualified is signed in and there is no overflow queue.
        self.assertEqual(decision.action, 'callback')

    def test_tie_broken_by_penalty_then_longest_idle(self):
        queues = {'sales': Queue('sales', skills={'billing': (1, 1)})}
        agents = [
            agent('PJSIP/1', skills={'billing': 3}, queues={'sales': 1},
                since=NOW - dt.timedelta(hours=1)),
            agent('PJSIP/2', skills={'billing': 3}, queues={'sales': 0},
                since=NOW - dt.timedelta(minutes=1)),
            agent('PJSIP/3', skills={'billing': 3}, queues={'sales': 0},
                since=NOW - dt.timedelta(minutes=2)),
            ]
        decision = decide(request(queues=queues, agents=agents))
        self.assertEqual(decision.agent, 'PJSIP/3')

    def test_skills_weighted_without_skills_uses_longest_idle(self):
        queues = {'sales': Queue('sales', strategy='skills_weighted')}
        agents = [agent('PJSIP/1', since=NOW),
            agent('PJSIP/2', since=NOW - dt.timedelta(seconds=30))]
        decision = decide(request(queues=queues, agents=agents))
        self.assertEqual(decision.agent, 'PJSIP/2')

    def test_agents_of_other_queues_are_ignored(self):
        queues = {'sales': Queue('sales', skills={'billing': (1, 1)},
                busy_action='voicemail', voicemail_box='8002')}
        agents = [agent('PJSIP/1', skills={'billing': 5},
                queues={'support': 0}),
            agent('PJSIP/2', skills={'billing': 1}, state='talking')]
        decision = decide(request(queues=queues, agents=agents))
        self.assertIsNone(decision.agent)
        self.assertEqual(decision.action, 'voicemail')
        self.assertEqual(decision.mailbox, '8002')


class BusyTestCase(unittest.TestCase):

    def test_all_busy_offers_callback(self):
        queues = {'sales': Queue('sales', busy_action='callback')}
        agents = [agent('PJSIP/1', state='talking'),
            agent('PJSIP/2', state='not_ready')]
        decision = decide(request(queues=queues, agents=agents))
        self.assertEqual(decision.action, 'callback')
        self.assertEqual(decision.queue, 'sales')
        self.assertEqual(decision.target, None)
        self.assertEqual(decision.explanation[-2:], [
                'All 2 suitable agents of sales are busy.',
                'Callback offered.'])

    def test_all_busy_voicemail(self):
        queues = {'sales': Queue('sales', busy_action='voicemail')}
        decision = decide(request(queues=queues,
                agents=[agent('PJSIP/1', state='wrap_up')]))
        self.assertEqual((decision.action, decision.target),
            ('voicemail', 'voicemail'))

    def test_all_busy_wait(self):
        decision = decide(request(agents=[agent('PJSIP/1', state='ringing')]))
        self.assertEqual(decision.action, 'queue')
        self.assertIn('busy', decision.reasons)

    def test_nobody_signed_in_overflows(self):
        queues = {
            'sales': Queue('sales', overflow='backup',
                busy_action='callback'),
            'backup': Queue('backup'),
            }
        agents = [agent('PJSIP/1', state='logged_out'),
            agent('PJSIP/2', queues={'backup': 0})]
        decision = decide(request(queues=queues, agents=agents))
        self.assertEqual(decision.queue, 'backup')
        self.assertEqual(decision.action, 'queue')
        self.assertIn('overflow', decision.reasons)

    def test_overflow_closed_is_not_used(self):
        queues = {
            'sales': Queue('sales', overflow='backup',
                busy_action='callback'),
            'backup': Queue('backup', calendar=Calendar(False)),
            }
        decision = decide(request(queues=queues,
                agents=[agent('PJSIP/1', state='logged_out')]))
        self.assertEqual(decision.queue, 'sales')
        self.assertEqual(decision.action, 'callback')
        self.assertIn('No agent of sales is signed in.',
            decision.explanation)

    def test_busy_agents_do_not_overflow(self):
        queues = {'sales': Queue('sales', overflow='backup'),
            'backup': Queue('backup')}
        decision = decide(request(queues=queues,
                agents=[agent('PJSIP/1', state='talking')]))
        self.assertEqual(decision.queue, 'sales')

    def test_service_level_under_floor_overflows_to_a_ready_agent(self):
        "TEL-54: behind on service level, all busy: help from the backup"
        queues = {
            'sales': Queue('sales', overflow='backup',
                overflow_service_level=80, busy_action='callback'),
            'backup': Queue('backup', skills={'billing': (1, 1)}),
            }
        busy = agent('PJSIP/1', state='talking')
        helper = agent('PJSIP/2', queues={'backup': 0},
            skills={'billing': 3})

        def routed(level, agents=(busy, helper), queues=queues):
            return decide(request(queues=queues, agents=agents,
                    service_levels={'sales': level}))
        decision = routed(62.5)
        self.assertEqual((decision.action, decision.queue, decision.agent),
            ('queue', 'backup', 'PJSIP/2'))
        self.assertIn('Service level of sales is 62.5% (under 80%): '
            'overflow to backup, where an agent is ready.',
            decision.explanation)
        # At or above the floor, without figures, or nobody ready there:
        # the queue's own busy action.
        for decision in [routed(80.0), routed(None),
                routed(50.0, agents=(busy, agent('PJSIP/2', 'talking',
                            queues={'backup': 0}))),
                routed(50.0, queues=dict(queues, backup=Queue('backup',
                            calendar=Calendar(False))))]:
            with self.subTest(explanation=decision.explanation):
                self.assertEqual((decision.action, decision.queue),
                    ('callback', 'sales'))
        # A queue without a floor never overflows on service level.
        queues['sales'] = Queue('sales', overflow='backup')
        self.assertEqual(routed(10.0).queue, 'sales')

    def test_unknown_members_leave_distribution_to_pbx(self):
        queues = {'sales': Queue('sales', busy_action='callback')}
        decision = decide(request(queues=queues))
        self.assertEqual(decision.action, 'queue')
        self.assertEqual(decision.reasons, ['service', 'pbx_distribution'])


class WaitLimitTestCase(unittest.TestCase):
    "CC_TIMEOUT and CC_OVERFLOW: how long a queued caller waits, and where to"

    def queues(self, backup_open=True):
        return {
            'sales': Queue('sales', max_wait=90, overflow='backup'),
            'backup': Queue('backup', max_wait=45, overflow='sales',
                calendar=Calendar(backup_open)),
            }

    def test_queued_caller_gets_queue_limit_and_overflow(self):
        decision = decide(request(queues=self.queues(),
                agents=[agent('PJSIP/1', state='talking')]))
        self.assertEqual((decision.action, decision.queue), ('queue', 'sales'))
        variables = decision.variables()
        self.assertEqual((variables['CC_TIMEOUT'], variables['CC_OVERFLOW']),
            ('90', 'backup'))
        # Only the variables: the explanation does not change.
        self.assertEqual(decision.reasons, ['service', 'busy'])

    def test_no_limit_is_empty(self):
        for max_wait in [None, 0]:
            with self.subTest(max_wait=max_wait):
                queues = {'sales': Queue('sales', max_wait=max_wait,
                        overflow='backup'), 'backup': Queue('backup')}
                variables = decide(request(queues=queues)).variables()
                # Queue()'s timeout argument: empty is no limit ("0" would
                # time out at once: qe.expire = qe.start + 0).
                self.assertEqual(
                    (variables['CC_TIMEOUT'], variables['CC_OVERFLOW']),
                    ('', ''))

    def test_limit_without_overflow(self):
        queues = {'sales': Queue('sales', max_wait=60)}
        variables = decide(request(queues=queues)).variables()
        self.assertEqual((variables['CC_TIMEOUT'], variables['CC_OVERFLOW']),
            ('60', ''))

    def test_closed_or_unknown_overflow_is_not_given(self):
        for queues in [self.queues(backup_open=False),
                {'sales': Queue('sales', max_wait=90, overflow='gone')}]:
            with self.subTest(queues=sorted(queues)):
                variables = decide(request(queues=queues)).variables()
                self.assertEqual(
                    (variables['CC_TIMEOUT'], variables['CC_OVERFLOW']),
                    ('90', ''))

    def test_overflow_when_nobody_signed_in_gives_target_settings(self):
        "Nobody of sales signed in: the caller joins backup, with its limit"
        queues = self.queues()
        queues['backup'] = Queue('backup', max_wait=45, overflow='sales')
        decision = decide(request(queues=queues,
                agents=[agent('PJSIP/1', state='logged_out')]))
        self.assertEqual(decision.queue, 'backup')
        self.assertIn('overflow', decision.reasons)
        variables = decision.variables()
        self.assertEqual((variables['CC_QUEUE'], variables['CC_TIMEOUT'],
                variables['CC_OVERFLOW']), ('backup', '45', 'sales'))

    def test_night_queue_gives_its_own_settings(self):
        queues = {
            'sales': Queue('sales', max_wait=90, overflow='backup',
                calendar=Calendar(False), night_kind='queue',
                night_queue='night'),
            'night': Queue('night', max_wait=30, overflow='backup'),
            'backup': Queue('backup'),
            }
        variables = decide(request(queues=queues)).variables()
        self.assertEqual((variables['CC_ACTION'], variables['CC_QUEUE'],
                variables['CC_TIMEOUT'], variables['CC_OVERFLOW']),
            ('night', 'night', '30', 'backup'))

    def test_callback_keeps_the_queue_settings(self):
        "A declined callback queues in CC_QUEUE: its limit applies"
        queues = {'sales': Queue('sales', max_wait=90, busy_action='callback')}
        decision = decide(request(queues=queues,
                agents=[agent('PJSIP/1', state='talking')]))
        self.assertEqual(decision.action, 'callback')
        self.assertEqual(decision.variables()['CC_TIMEOUT'], '90')

    def test_not_queued_has_no_limit(self):
        queues = {'sales': Queue('sales', max_wait=90, busy_action='voicemail',
                overflow='backup'), 'backup': Queue('backup')}
        cases = {
            'voicemail': request(queues=queues,
                agents=[agent('PJSIP/1', state='talking')]),
            'reject': request(queues=queues,
                caller=Caller(list_status='black')),
            }
        for action, case in cases.items():
            with self.subTest(action=action):
                decision = decide(case)
                self.assertEqual(decision.action, action)
                variables = decision.variables()
                self.assertEqual(
                    (variables['CC_TIMEOUT'], variables['CC_OVERFLOW']),
                    ('', ''))


class ExpectedWaitTestCase(unittest.TestCase):
    "TEL-50: the expected wait told, and choices offered when it is long"

    def busy_request(self, queue, waiting=5, handle=120.0, states=None,
            **kwargs):
        states = states or ['talking', 'wrap_up', 'not_ready']
        return request(queues={'sales': queue},
            agents=[agent(f'PJSIP/{i}', state)
                for i, state in enumerate(states)],
            queue_loads={'sales': QueueLoad(waiting, handle)}, **kwargs)

    def test_wait_is_position_times_handle_over_busy_agents(self):
        "6 callers (5 waiting and this one) × 120 s over 2 busy agents"
        decision = decide(self.busy_request(
                Queue('sales', announce_wait=True)))
        self.assertEqual(decision.action, 'queue')
        self.assertEqual(decision.expected_wait, 360)
        variables = decision.variables()
        self.assertEqual(variables['CC_WAIT_MINUTES'], '6')
        self.assertEqual(variables['CC_CHOICE_EXTEN'], '')
        self.assertIn('Expected wait 360 s: 5 callers ahead, 2 busy agents, '
            '120 s per call.', decision.explanation)

    def test_minutes_round_up(self):
        decision = decide(self.busy_request(
                Queue('sales', announce_wait=True), waiting=0, handle=61))
        self.assertEqual(decision.expected_wait, 31)
        self.assertEqual(decision.variables()['CC_WAIT_MINUTES'], '1')

    def test_nothing_told_when_unknown_or_not_asked(self):
        cases = {
            'not announced': (Queue('sales'), {}),
            'no call answered lately': (Queue('sales', announce_wait=True),
                {'handle': None}),
            'no busy agent': (Queue('sales', announce_wait=True),
                {'states': ['not_ready']}),
            }
        for name, (queue, options) in cases.items():
            with self.subTest(name):
                decision = decide(self.busy_request(queue, **options))
                self.assertIsNone(decision.expected_wait)
                self.assertEqual(decision.variables()['CC_WAIT_MINUTES'], '')
                self.assertEqual(decision.action, 'queue')

    def test_a_ready_agent_means_no_wait(self):
        decision = decide(self.busy_request(
                Queue('sales', announce_wait=True, choice_above=60),
                states=['talking', 'ready']))
        self.assertEqual(decision.action, 'queue')
        self.assertIsNone(decision.expected_wait)

    def test_long_wait_offers_choices(self):
        queue = Queue('sales', choice_above=300, choice_extension='8001',
            voicemail_box='sales@default', busy_action='callback',
            max_wait=600, overflow='sales')
        decision = decide(self.busy_request(queue))
        self.assertEqual(decision.action, 'choice')
        self.assertEqual(decision.expected_wait, 360)
        self.assertEqual(decision.reasons, ['service', 'busy'])
        variables = decision.variables()
        self.assertEqual((variables['CC_WAIT_MINUTES'],
                variables['CC_CHOICE_EXTEN'], variables['CC_QUEUE'],
                variables['CC_MAILBOX'], variables['CC_TIMEOUT']),
            ('6', '8001', 'sales', 'sales@default', '600'))
        self.assertIn('Expected wait over 300 s: the caller is told it and '
            'offered choices.', decision.explanation)

    def test_short_wait_keeps_the_busy_action(self):
        "Under the limit, and not announced: the callback offer as before"
        queue = Queue('sales', choice_above=400, busy_action='callback')
        decision = decide(self.busy_request(queue))
        self.assertEqual(decision.action, 'callback')
        self.assertIsNone(decision.expected_wait)
        self.assertEqual(decision.variables()['CC_WAIT_MINUTES'], '')

    def test_vip_is_told_but_offered_nothing(self):
        queue = Queue('sales', announce_wait=True, choice_above=60)
        decision = decide(self.busy_request(queue, caller=Caller(vip=True)))
        self.assertEqual(decision.action, 'queue')
        self.assertEqual(decision.expected_wait, 360)


class VariablesTestCase(unittest.TestCase):

    def test_every_variable_is_set(self):
        decision = decide(request(caller=Caller(vip=True),
                agents=[agent('PJSIP/1')]))
        variables = decision.variables()
        self.assertEqual(set(variables), set(VARIABLES))
        self.assertEqual(variables, {
                'CC_ACTION': 'queue',
                'CC_QUEUE': 'sales',
                'CC_PRIORITY': '11',
                'CC_AGENT': 'PJSIP/1',
                'CC_ANNOUNCE': '',
                'CC_TARGET': '',
                'CC_TIMEOUT': '',
                'CC_OVERFLOW': '',
                'CC_WAIT_MINUTES': '',
                'CC_CHOICE_EXTEN': '',
                'CC_REASON': 'service,vip,longest_idle',
                })

    def test_explanation_has_one_sentence_per_step(self):
        decision = decide(request(caller=Caller(routing_priority=2,
                    list_status='red')))
        self.assertEqual(len(decision.explanation), 4)
        self.assertTrue(all(s.endswith('.') for s in decision.explanation))

    def test_as_dict_keeps_explanation(self):
        decision = decide(request(dnis='000'))
        self.assertEqual(decision.as_dict()['reason'], 'no_queue')
        self.assertEqual(decision.as_dict()['explanation'],
            ['No queue serves this number: voicemail.'])

    def test_caller_from_identify(self):
        caller = Caller.from_identify({
                'number': '+8613800138000', 'region': '北京市',
                'parties': [{'id': 4}, {'id': 9}], 'list_status': 'red',
                'routing_priority': 5, 'vip': True})
        self.assertEqual(caller.party_ids, (4, 9))
        self.assertEqual(caller.list_status, 'red')
        self.assertTrue(caller.vip)
        self.assertEqual(caller.routing_priority, 5)
