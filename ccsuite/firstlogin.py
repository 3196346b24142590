"""What an administrator does at the first login, done once by script.

Tryton opens two wizards at the first admin login (module configuration,
users) and needs a company; demo users get one role each. Every step checks
what exists, so running it again changes nothing.
"""
from decimal import Decimal

from . import session

COMPANY_NAME = "示例客服中心"
# login, name, language, groups (XML ids in cc_base), team membership
DEMO_USERS = [
    ('agent', "李娜", 'zh_CN', ['group_cc_agent'], 'member'),
    ('agent2', "Wang Lei", 'en', ['group_cc_agent'], 'member'),
    ('leader', "张伟", 'zh_CN', ['group_cc_team_leader'], 'leader'),
    ('qa', "刘芳", 'zh_CN', ['group_cc_qa'], None),
    ('planner', "陈静", 'zh_CN', ['group_cc_planner'], None),
    ('supervisor', "Zhao Min", 'en',
        ['group_cc_supervisor', 'group_cc_kb_approver'], 'manager'),
    ]
DEMO_PASSWORD_SUFFIX = '-demo'


def run(database, demo_users=True):
    with session.transaction(database) as pool:
        company = _company(pool)
        _close_wizards(pool)
        if demo_users:
            _demo_users(pool, company)


def _company(pool):
    Company = pool.get('company.company')
    Currency = pool.get('currency.currency')
    Party = pool.get('party.party')
    User = pool.get('res.user')
    companies = Company.search([], limit=1)
    if companies:
        company, = companies
    else:
        currencies = Currency.search([('code', '=', 'CNY')], limit=1)
        if currencies:
            currency, = currencies
        else:
            currency, = Currency.create([{
                        'name': "Chinese Yuan Renminbi", 'code': 'CNY',
                        'symbol': '¥', 'numeric_code': '156',
                        'rounding': Decimal('0.01'), 'digits': 2}])
        party, = Party.create([{'name': COMPANY_NAME,
                    'cc_customer_type': 'enterprise'}])
        company, = Company.create([{
                    'party': party.id, 'currency': currency.id,
                    'timezone': 'Asia/Shanghai'}])
    admin, = User.search([('login', '=', 'admin')])
    if company not in admin.companies:
        User.write([admin], {
                'companies': [('add', [company.id])],
                'company': company.id})
    return company


def _close_wizards(pool):
    Item = pool.get('ir.module.config_wizard.item')
    items = Item.search([('state', '!=', 'done')])
    if items:
        Item.write(items, {'state': 'done'})


def _demo_users(pool, company):
    ModelData = pool.get('ir.model.data')
    User = pool.get('res.user')
    Lang = pool.get('ir.lang')
    Team = pool.get('cc.team')
    Employee = pool.get('company.employee')
    Party = pool.get('party.party')
    team = _demo_team(Team)
    for login, name, lang, groups, role in DEMO_USERS:
        if User.search([('login', '=', login)]):
            continue
        lang, = Lang.search([('code', '=', lang)])
        party, = Party.create([{'name': name}])
        employee, = Employee.create([{
                    'party': party.id, 'company': company.id}])
        user, = User.create([{
                    'login': login,
                    'name': name,
                    'password': login + DEMO_PASSWORD_SUFFIX,
                    'language': lang.id,
                    'groups': [('add', [
                                ModelData.get_id('cc_base', g)
                                for g in groups])],
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    'employees': [('add', [employee.id])],
                    'employee': employee.id,
                    }])
        if role == 'member':
            Team.write([team], {'users': [('add', [user.id])]})
        elif role in {'leader', 'manager'}:
            Team.write([team], {role: user.id})


def _demo_team(Team):
    teams = Team.search([('code', '=', 'T1')])
    if teams:
        return teams[0]
    team, = Team.create([{'name': "一组 (Team 1)", 'code': 'T1'}])
    return team
