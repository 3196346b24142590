import datetime

from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.party.exceptions import InvalidPhoneNumber
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction


def create_party(name, *numbers, tier=None):
    Party = Pool().get('party.party')
    party, = Party.create([{
                'name': name,
                'cc_tier': tier,
                'contact_mechanisms': [('create', [
                            {'type': 'mobile', 'value': n}
                            for n in numbers])],
                }])
    return party


def create_user(login, *group_xml_ids):
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    user, = User.create([{
                'login': login, 'name': login,
                'groups': [('add', [ModelData.get_id('cc_base', g)
                            for g in group_xml_ids])],
                }])
    return user


class CcBaseTestCase(ModuleTestCase):
    "Test cc_base module"
    module = 'cc_base'

    @with_transaction()
    def test_phone_normalised_with_region(self):
        "Numbers are stored in E.164 with province, city and line type"
        party = create_party("王芳", '013800138000')
        mechanism, = party.contact_mechanisms
        self.assertEqual(mechanism.value_compact, '+8613800138000')
        self.assertEqual(mechanism.cc_province, '北京市')
        self.assertEqual(mechanism.cc_line_type, 'mobile')
        self.assertEqual(mechanism.cc_carrier, '中国移动')

    @with_transaction()
    def test_local_fixed_line_uses_area_code(self):
        "A local number is completed with the configured area code"
        pool = Pool()
        Configuration = pool.get('cc.configuration')
        Configuration.write([Configuration(1)], {'local_area_code': '0755'})
        party = create_party("深圳客户", '87654321')
        self.assertEqual(
            party.contact_mechanisms[0].value_compact, '+8675587654321')
        self.assertEqual(party.contact_mechanisms[0].cc_city, '深圳市')

    @with_transaction()
    def test_invalid_number_refused(self):
        "An invalid number is refused with the party's message"
        with self.assertRaises(InvalidPhoneNumber) as cm:
            create_party("错误号码", '12345')
        self.assertIn('12345', cm.exception.message)

    @with_transaction()
    def test_identify_shapes_and_shared_number(self):
        "Every PBX shape finds the parties; shared numbers give all"
        Caller = Pool().get('cc.caller')
        father = create_party("李建国", '13912345678')
        son = create_party("李子涵", '+86 139 1234 5678', '18612345678')
        for raw in ['13912345678', '013912345678', '+8613912345678',
                '8613912345678', '139 1234 5678']:
            info = Caller.identify(raw)
            self.assertEqual(
                [p['id'] for p in info['parties']], [father.id, son.id], raw)
            self.assertEqual(info['number'], '+8613912345678')
            self.assertEqual(info['province'], '江苏省')
        info = Caller.identify('18612345678')
        self.assertEqual([p['id'] for p in info['parties']], [son.id])

    @with_transaction()
    def test_identify_unknown_caller_has_region(self):
        "An unknown caller gets no party but its region"
        Caller = Pool().get('cc.caller')
        info = Caller.identify('02087654321')
        self.assertEqual(info['parties'], [])
        self.assertEqual(info['region'], '广东省广州市')
        self.assertEqual(info['line_type'], 'fixed')

    @with_transaction()
    def test_identify_tier_and_lists(self):
        "Tier priority, VIP and list status reach the router"
        pool = Pool()
        Caller = pool.get('cc.caller')
        Tier = pool.get('cc.customer.tier')
        ListEntry = pool.get('cc.list.entry')
        vip, = Tier.search([('code', '=', 'VIP')])
        party = create_party("赵总", '13700001111', tier=vip.id)
        info = Caller.identify('13700001111')
        self.assertTrue(info['vip'])
        self.assertEqual(info['routing_priority'], vip.routing_priority)
        self.assertIsNone(info['list_status'])
        ListEntry.create([{'list_type': 'red', 'party': party.id,
                    'reason': "重要客户"}])
        self.assertEqual(Caller.identify('13700001111')['list_status'], 'red')
        ListEntry.create([{'list_type': 'black', 'number': '013700001111',
                    'reason': "骚扰"}])
        info = Caller.identify('13700001111')
        self.assertEqual(info['list_status'], 'black')
        self.assertEqual(info['parties'][0]['list_status'], 'black')

    @with_transaction()
    def test_list_entry_validity(self):
        "Expired or future entries are not in force"
        pool = Pool()
        ListEntry = pool.get('cc.list.entry')
        now = datetime.datetime.now()
        ListEntry.create([{'list_type': 'black', 'number': '13600001111',
                    'reason': "过期", 'valid_from': now - datetime.timedelta(
                        days=10),
                    'valid_to': now - datetime.timedelta(days=1)}])
        self.assertIsNone(ListEntry.status_for(numbers=['+8613600001111']))
        ListEntry.create([{'list_type': 'black', 'number': '13600001111',
                    'reason': "再次骚扰"}])
        self.assertEqual(
            ListEntry.status_for(numbers=['+8613600001111']), 'black')

    @with_transaction()
    def test_list_entry_duplicate_refused(self):
        "A second overlapping entry is refused"
        ListEntry = Pool().get('cc.list.entry')
        ListEntry.create([{'list_type': 'black', 'number': '13600002222',
                    'reason': "骚扰"}])
        with self.assertRaises(ValidationError) as cm:
            ListEntry.create([{'list_type': 'black',
                        'number': '+86 136 0000 2222', 'reason': "重复"}])
        self.assertIn('already on this list', cm.exception.message)

    @with_transaction()
    def test_list_entry_invalid_number_and_dates(self):
        "Invalid numbers and reversed dates are refused"
        ListEntry = Pool().get('cc.list.entry')
        with self.assertRaises(ValidationError):
            ListEntry.create([{'list_type': 'black', 'number': 'abc',
                        'reason': "x"}])
        now = datetime.datetime.now()
        with self.assertRaises(ValidationError):
            ListEntry.create([{'list_type': 'red', 'number': '13600003333',
                        'reason': "x", 'valid_from': now,
                        'valid_to': now - datetime.timedelta(hours=1)}])

    @with_transaction()
    def test_audit_of_lists_tiers_and_360(self):
        "List and tier changes and 360 reads are logged"
        pool = Pool()
        AuditLog = pool.get('cc.audit.log')
        ListEntry = pool.get('cc.list.entry')
        Party = pool.get('party.party')
        Tier = pool.get('cc.customer.tier')
        gold, = Tier.search([('code', '=', 'GOLD')])
        party = create_party("孙丽", '13500001111')
        ListEntry.create([{'list_type': 'red', 'party': party.id,
                    'reason': "重要"}])
        Party.write([party], {'cc_tier': gold.id})
        with Transaction().set_context(_check_access=True):
            Party.read([party.id], ['cc_history_notes', 'cc_interactions'])
        actions = {(a.action, a.party) for a in AuditLog.search([])}
        self.assertIn(('list_change', party), actions)
        self.assertIn(('tier_change', party), actions)
        self.assertIn(('read_360', party), actions)
        tier_log, = AuditLog.search([('action', '=', 'tier_change')])
        self.assertEqual(tier_log.details, '- → Gold')

    @with_transaction()
    def test_audit_row_names_reader(self):
        "A 360 read is logged with its reader as user and creator"
        pool = Pool()
        AuditLog = pool.get('cc.audit.log')
        Party = pool.get('party.party')
        party = create_party("周敏", '13500002222')
        agent = create_user('agent_reader', 'group_cc_agent')
        with Transaction().set_user(agent.id), \
                Transaction().set_context(_check_access=True):
            Party.read([party.id], ['cc_history_notes'])
        log, = AuditLog.search([('action', '=', 'read_360')])
        self.assertEqual(
            (log.user, log.create_uid, log.party, log.resource, log.details),
            (agent, agent, party, f'party.party,{party.id}', None))
        self.assertTrue(log.timestamp)
        self.assertTrue(log.create_date)

    @with_transaction()
    def test_audit_log_admin_only(self):
        "Agents cannot read the audit log"
        AuditLog = Pool().get('cc.audit.log')
        agent = create_user('agent_audit', 'group_cc_agent')
        with Transaction().set_user(agent.id), \
                Transaction().set_context(_check_access=True):
            with self.assertRaises(AccessError):
                AuditLog.search([])

    @with_transaction()
    def test_interaction_team_rule(self):
        "An agent sees the contacts of their team, a supervisor all"
        pool = Pool()
        Team = pool.get('cc.team')
        Interaction = pool.get('cc.interaction')
        agent = create_user('agent_a', 'group_cc_agent')
        other = create_user('agent_b', 'group_cc_agent')
        boss = create_user('boss', 'group_cc_supervisor')
        team_a, team_b = Team.create([
                {'name': "A", 'users': [('add', [agent.id])]},
                {'name': "B", 'users': [('add', [other.id])]}])
        Interaction.create([
                {'team': team_a.id, 'agent': agent.id, 'summary': 'a'},
                {'team': team_b.id, 'agent': other.id, 'summary': 'b'}])

        def visible(user):
            with Transaction().set_user(user.id), \
                    Transaction().set_context(_check_access=True):
                return sorted(i.summary for i in Interaction.search([]))
        self.assertEqual(visible(agent), ['a'])
        self.assertEqual(visible(other), ['b'])
        self.assertEqual(visible(boss), ['a', 'b'])
        Team.write([team_b], {'users': [('add', [agent.id])]})
        self.assertEqual(visible(agent), ['a', 'b'])

    @with_transaction()
    def test_list_editing_for_team_leaders(self):
        "Agents read the lists; team leaders edit them"
        ListEntry = Pool().get('cc.list.entry')
        agent = create_user('agent_l', 'group_cc_agent')
        leader = create_user('leader_l', 'group_cc_team_leader')
        values = [{'list_type': 'black', 'number': '13600004444',
                'reason': "x"}]
        with Transaction().set_context(_check_access=True):
            with Transaction().set_user(agent.id):
                with self.assertRaises(AccessError):
                    ListEntry.create(values)
            with Transaction().set_user(leader.id):
                entry, = ListEntry.create(values)
                self.assertEqual(entry.added_by, leader)

    @with_transaction()
    def test_identify_refused_outside_groups(self):
        "A user outside the contact-center groups cannot identify callers"
        Caller = Pool().get('cc.caller')
        User = Pool().get('res.user')
        outsider, = User.create([{'login': 'outsider', 'name': 'Outsider'}])
        with Transaction().set_user(outsider.id), \
                Transaction().set_context(_check_access=True):
            with self.assertRaises(AccessError):
                Caller.identify('13800138000')


del ModuleTestCase
