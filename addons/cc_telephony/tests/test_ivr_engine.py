"""The IVR's pure engine: menus, keys, path, retries."""
import unittest

from trytond.modules.cc_telephony.ivr_engine import (
    Ask, Conversation, Done, Menu, Menus, Option, Serve, Service,
    ServiceResult, run_script)


def demo_menus():
    return Menus([
            Menu('lang', "Language", greeting='cc-lang', timeout=4,
                retries=1, options={
                    '1': Option('1', 'language', language='zh',
                        target='main'),
                    '2': Option('2', 'language', language='en',
                        target='main'),
                    }),
            Menu('main', "Main", greeting='cc-main', parent='lang',
                invalid_prompt='cc-invalid', retries=2, options={
                    '1': Option('1', 'queue', queue='sales', priority=2),
                    '2': Option('2', 'submenu', target='billing'),
                    '3': Option('3', 'self_service', service='account'),
                    '4': Option('4', 'self_service', service='hours'),
                    '0': Option('0', 'agent'),
                    '#': Option('#', 'hangup'),
                    }),
            Menu('billing', "Billing", greeting='cc-billing',
                parent='main', options={
                    '1': Option('1', 'queue', queue='billing'),
                    '2': Option('2', 'queue', queue='vip', priority=5),
                    '9': Option('9', 'back'),
                    '*': Option('*', 'main'),
                    }),
            ], services={
            'account': Service('account', digits=8, prompt='cc-account'),
            'hours': Service('hours'),
            })


class ConversationTestCase(unittest.TestCase):

    def test_two_levels_to_a_queue(self):
        "2 then 1: the submenu's queue, the path main>2>1"
        conversation, steps = run_script(demo_menus(), 'main', ['2', '1'])
        self.assertEqual(steps[0], Ask('main', 'cc-main', 5.0))
        self.assertEqual(steps[1], Ask('billing', 'cc-billing', 5.0))
        self.assertEqual(steps[-1], Done('queue', 'billing', 'billing', 0))
        self.assertEqual(conversation.path, 'main>2>1')
        self.assertEqual(conversation.explanation, [
                'IVR menu main.', 'Key 2: menu billing.',
                'Key 1: queue billing.'])

    def test_language_then_menu(self):
        "The language key sets the channel language once, then its menu"
        conversation, steps = run_script(demo_menus(), 'lang',
            ['2', '2', '2'])
        self.assertEqual(steps[1], Ask('main', 'cc-main', 5.0,
                language='en'))
        # Not set again on the next prompt.
        self.assertIsNone(steps[2].language)
        self.assertEqual(steps[-1], Done('queue', 'billing', 'vip', 5))
        self.assertEqual(conversation.path, 'lang>2>2>2')
        self.assertEqual(conversation.language, 'en')
        self.assertEqual(conversation.variables_for_agent(), {
                'CC_IVR_PATH': 'lang>2>2>2', 'CC_LANGUAGE': 'en'})

    def test_back_and_main(self):
        conversation, steps = run_script(demo_menus(), 'lang',
            ['1', '2', '9', '2', '*', '1', '1'])
        self.assertEqual([s.menu for s in steps], [
                'lang', 'main', 'billing', 'main', 'billing', 'lang',
                'main', 'main'])
        self.assertEqual(steps[-1], Done('queue', 'main', 'sales', 2))
        self.assertEqual(conversation.path, 'lang>1>2>9>2>*>1>1')
        # The main menu is the top of the tree: the language menu, whose
        # language key sets the language again.
        self.assertEqual(steps[-2].language, 'zh')

    def test_back_from_the_start_goes_to_the_parent(self):
        "A call that started in a submenu (night service): back = parent"
        _, steps = run_script(demo_menus(), 'billing', ['9', '0'])
        self.assertEqual(steps[1].menu, 'main')
        self.assertEqual(steps[-1], Done('agent', 'main'))

    def test_invalid_keys_then_agent(self):
        "Retries, each with the invalid-input prompt, then an agent"
        conversation, steps = run_script(demo_menus(), 'main',
            ['7', '7', '7', '1'])
        self.assertEqual(steps[1].notices, ('cc-invalid',))
        self.assertEqual(steps[2].notices, ('cc-invalid',))
        # retries=2: the third failure ends the menu; '1' is never read.
        self.assertEqual(steps[3], Done('agent', 'main'))
        self.assertEqual(len(steps), 4)
        self.assertEqual(conversation.path, 'main')
        self.assertEqual(conversation.steps[-1],
            ('retries', {'menu': 'main', 'count': 3}))

    def test_timeouts_then_agent(self):
        "A silent caller: the menu is repeated without notice, then agent"
        _, steps = run_script(demo_menus(), 'lang', [])
        self.assertEqual([type(s) for s in steps], [Ask, Ask, Done])
        self.assertEqual(steps[1].notices, ())
        self.assertEqual(steps[-1].kind, 'agent')

    def test_a_valid_key_resets_the_retries(self):
        _, steps = run_script(demo_menus(), 'main',
            ['7', '7', '2', '5', '5', '1'])
        self.assertEqual(steps[-1], Done('queue', 'billing', 'billing', 0))

    def test_self_service_with_input(self):
        "The action's prompt collects its digits; its result goes on"
        menus = demo_menus()
        conversation = Conversation(menus, 'main')
        conversation.start()
        ask = conversation.press('3')
        self.assertEqual(ask, Ask('main', 'cc-account', 5.0, digits=8,
                service='account'))
        serve = conversation.press('12345678')
        self.assertEqual(serve, Serve('main', 'account', '12345678'))
        step = conversation.served(ServiceResult(prompts=('cc-thanks',),
                variables={'CC_IVR_ACCOUNT': '12345678'}, outcome='ok'))
        self.assertEqual(step, Ask('main', 'cc-main', 5.0,
                notices=('cc-thanks',)))
        step = conversation.press('0')
        self.assertEqual(step, Done('agent', 'main'))
        self.assertEqual(conversation.variables_for_agent(), {
                'CC_IVR_PATH': 'main>3>0', 'CC_IVR_ACCOUNT': '12345678'})

    def test_intro_said_first_then_the_menu(self):
        "TEL-61: the menu's intro speaks first, once; then the menu as ever"
        menus = demo_menus()
        main = menus['main']
        menus.by_code['main'] = Menu(main.code, main.name, main.greeting,
            main.parent, retries=main.retries, options=main.options,
            intro='hours')
        conversation = Conversation(menus, 'lang')
        conversation.start()
        self.assertEqual(conversation.press('1'), Serve('main', 'hours'))
        step = conversation.served(ServiceResult(prompts=('cc-open-ticket',),
                outcome='open ticket'))
        # The intro's words, then the greeting, in the language chosen.
        self.assertEqual(step, Ask('main', 'cc-main', 5.0,
                notices=('cc-open-ticket',), language='zh'))
        # Back in the menu later: no intro again.
        conversation.press('2')
        self.assertEqual(conversation.press('9'),
            Ask('main', 'cc-main', 5.0))
        self.assertIn('Menu main opens with self-service hours.',
            conversation.explanation)
        # Nothing to say: straight to the greeting.
        _, steps = run_script(menus, 'main', ['1'],
            {'hours': ServiceResult(outcome='nothing')})
        self.assertEqual(steps[1:], [Ask('main', 'cc-main', 5.0),
                Done('queue', 'main', 'sales', 2)])

    def test_intro_needing_keys_is_not_run(self):
        menus = demo_menus()
        main = menus['main']
        menus.by_code['main'] = Menu(main.code, greeting=main.greeting,
            options=main.options, intro='account')
        self.assertEqual(Conversation(menus, 'main').start(),
            Ask('main', 'cc-main', 5.0))

    def test_self_service_without_input_to_agent(self):
        _, steps = run_script(demo_menus(), 'main', ['4'],
            {'hours': ServiceResult(next='agent', outcome='closed')})
        self.assertEqual(steps[1], Serve('main', 'hours'))
        self.assertEqual(steps[-1], Done('agent', 'main'))

    def test_unknown_service_or_target_goes_to_an_agent(self):
        menus = Menus([Menu('m', options={
                        '1': Option('1', 'self_service', service='gone'),
                        '2': Option('2', 'submenu', target='gone')})])
        for key in '12':
            with self.subTest(key=key):
                _, steps = run_script(menus, 'm', [key])
                self.assertEqual(steps[-1], Done('agent', 'm'))

    def test_hangup(self):
        _, steps = run_script(demo_menus(), 'main', ['#'])
        self.assertEqual(steps[-1], Done('hangup', 'main'))
        conversation = Conversation(demo_menus(), 'main')
        conversation.start()
        self.assertEqual(conversation.hung_up(), Done('hangup', 'main'))
        self.assertEqual(conversation.explanation[-1],
            'The caller hung up in menu main.')

    def test_root_survives_a_parent_cycle(self):
        menus = Menus([Menu('a', parent='b'), Menu('b', parent='a')])
        self.assertIn(menus.root('a'), ('a', 'b'))

    def test_deterministic(self):
        runs = [run_script(demo_menus(), 'lang', ['1', '2', '7', '1'])
            for _ in range(2)]
        self.assertEqual(runs[0][1], runs[1][1])
        self.assertEqual(runs[0][0].steps, runs[1][0].steps)
