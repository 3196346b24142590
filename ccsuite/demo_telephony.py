"""Demo telephony set-up: the local PBX simulator, queues, skills, agents,
dialled numbers and announcements, so that `make run` shows calls
flowing.

    python -m ccsuite.demo_telephony --database demo

Records are found by their code (PBX, skill, queue), interface (agent) or
number (DNIS); what exists is left as an administrator may have changed it,
so running it again changes nothing. Reason codes come from cc_telephony's
XML. Does nothing when cc_telephony is not activated.

The PBX points at the simulator that scripts/services/telephony.sh starts
(AMI on 127.0.0.1:15038, not Asterisk's 5038, to avoid clashing with a real
PBX) and the router listens on 127.0.0.1:14573 for its FastAGI requests.
"""
import argparse
import datetime as dt

from . import session

PBX_CODE = 'demo-sim'
AMI_PORT = 15038
AGI_PORT = 14573
AMI_USER, AMI_SECRET = 'cc', 'cc-demo'

# code, name (zh_CN is the demo's language)
SKILLS = [
    ('billing', "账单"),
    ('broadband', "宽带"),
    ('complaint', "投诉处理"),
    ('vip', "VIP 服务"),
    ]
# code, name, strategy, base priority, required skills {code: minimum},
# busy action, wrap-up seconds
QUEUES = [
    ('consult', "综合咨询", 'rrmemory', 0, {}, 'queue', 10),
    ('complaints', "投诉", 'skills_weighted', 5, {'complaint': 3},
        'callback', 20),
    ('vip', "VIP", 'ringall', 10, {'vip': 4}, 'queue', 10),
    ]
OVERFLOWS = {'vip': 'consult', 'complaints': 'consult'}
# interface, extension, user login (None: a simulated colleague without a
# login), skills {code: proficiency}, queues {code: penalty}
AGENTS = [
    ('PJSIP/8001', '8001', 'agent',
        {'billing': 4, 'broadband': 3, 'complaint': 3},
        {'consult': 0, 'complaints': 1}),
    ('PJSIP/8002', '8002', 'agent2', {'billing': 3, 'broadband': 4},
        {'consult': 0}),
    ('PJSIP/8003', '8003', 'leader',
        {'billing': 5, 'complaint': 5, 'vip': 5},
        {'consult': 1, 'complaints': 0, 'vip': 0}),
    ('PJSIP/8004', '8004', None, {'billing': 3, 'vip': 4},
        {'consult': 0, 'vip': 1}),
    ('PJSIP/8005', '8005', None, {'broadband': 5, 'complaint': 4},
        {'consult': 0, 'complaints': 0}),
    ]
# number as the trunk delivers it, service name, queue, priority bonus
DNIS = [
    ('10086', "综合咨询热线", 'consult', 0),
    ('10080', "投诉专线", 'complaints', 0),
    ('10086888', "VIP 专线", 'vip', 5),
    ]
# IVR menus: code, name, greeting (Asterisk sound file), parent, options
# [(key, action, target: menu or queue code, language, or service)].
# AGI(agi://127.0.0.1:14573/ivr) starts at welcome, the top menu.
IVR_MENUS = [
    ('welcome', "语种选择", 'cc-ivr-welcome', None, [
            ('1', 'language', 'zh', 'main', "普通话"),
            ('2', 'language', 'en', 'main', "English")]),
    ('main', "主菜单", 'cc-ivr-main', 'welcome', [
            ('1', 'queue', 'consult', None, "综合咨询"),
            ('2', 'submenu', 'billing', None, "账单与宽带"),
            ('3', 'queue', 'complaints', None, "投诉"),
            ('4', 'self_service', 'account_number', None, "输入账号"),
            ('0', 'agent', None, None, "人工服务"),
            ('*', 'main', None, None, "重听")]),
    ('billing', "账单与宽带", 'cc-ivr-billing', 'main', [
            ('1', 'queue', 'consult', None, "账单查询"),
            ('2', 'queue', 'vip', None, "VIP 账单"),
            ('9', 'back', None, None, "返回上一级"),
            ('*', 'main', None, None, "主菜单")]),
    ]
# Announcements from the demo's creation: name, kind, sound file, days in
# force, dialled numbers (empty: all), caller regions.
ANNOUNCEMENTS = [
    ("广东宽带故障通知", 'urgent', 'cc-notice-outage', 1, ['10086'], '广东省'),
    ("5G 套餐促销", 'promotion', 'cc-promo-5g', 30, [], ''),
    ]


def setup(database):
    "Create what is missing; return {model: number of records created}."
    with session.transaction(database, context={'language': 'zh_CN'}) as pool:
        if not _activated(pool, 'cc_telephony'):
            return {}
        created = {}
        skills = _skills(pool, created)
        queues = _queues(pool, skills, created)
        _pbx(pool, queues, created)
        _agents(pool, skills, queues, created)
        _dnis(pool, queues, created)
        _ivr_menus(pool, queues, created)
        _announcements(pool, created)
        return created


def _activated(pool, module):
    Module = pool.get('ir.module')
    return bool(Module.search(
            [('name', '=', module), ('state', '=', 'activated')]))


def _count(created, model, records):
    if records:
        created[model] = created.get(model, 0) + len(records)
    return records


def _skills(pool, created):
    Skill = pool.get('cc.skill')
    existing = {s.code for s in Skill.search([('active', 'in', [True, False])])}
    _count(created, 'cc.skill', Skill.create([
                {'code': code, 'name': name}
                for code, name in SKILLS if code not in existing]))
    return {s.code: s.id for s in Skill.search(
            [('active', 'in', [True, False])])}


def _queues(pool, skills, created):
    Queue = pool.get('cc.queue')
    existing = {q.code for q in Queue.search([('active', 'in', [True, False])])}
    _count(created, 'cc.queue', Queue.create([_queue_values(row, skills)
                for row in QUEUES if row[0] not in existing]))
    queues = {q.code: q for q in Queue.search(
            [('active', 'in', [True, False])])}
    for code, overflow in OVERFLOWS.items():
        queue = queues.get(code)
        if (code not in existing and queue and overflow in queues):
            Queue.write([queue], {'overflow_queue': queues[overflow].id})
    return {code: queue.id for code, queue in queues.items()}


def _queue_values(row, skills):
    code, name, strategy, priority, required, busy, wrapup = row
    return {
        'code': code, 'name': name, 'strategy': strategy,
        'priority': priority, 'busy_action': busy, 'wrapup_seconds': wrapup,
        'service_level_seconds': 20, 'max_wait_seconds': 180,
        'voicemail_box': f'{code}@default',
        # Told from the first minute; choices when it is near the limit.
        'announce_wait': True, 'choice_above_seconds': 150,
        'skills': [('create', [{'skill': skills[skill],
                        'min_proficiency': minimum}
                    for skill, minimum in required.items()])],
        }


def _pbx(pool, queues, created):
    Pbx = pool.get('cc.pbx')
    if Pbx.search([('code', '=', PBX_CODE), ('active', 'in', [True, False])]):
        return
    _count(created, 'cc.pbx', Pbx.create([{
                    'name': "演示 PBX 模拟器 (PBX simulator, not a PBX)",
                    'code': PBX_CODE,
                    'ami_host': '127.0.0.1', 'ami_port': AMI_PORT,
                    'ami_username': AMI_USER, 'ami_secret': AMI_SECRET,
                    'agi_host': '127.0.0.1', 'agi_port': AGI_PORT,
                    'default_queue': queues['consult'],
                    }]))


def _agents(pool, skills, queues, created):
    Agent = pool.get('cc.agent')
    User = pool.get('res.user')
    existing = {a.interface for a in Agent.search(
            [('active', 'in', [True, False])])}
    users = {u.login: u for u in User.search(
            [('login', 'in', [row[2] for row in AGENTS if row[2]])])}
    _count(created, 'cc.agent', Agent.create([
                _agent_values(row, users, skills, queues)
                for row in AGENTS if row[0] not in existing]))


def _agent_values(row, users, skills, queues):
    interface, extension, login, proficiencies, memberships = row
    user = users.get(login)
    employee = user.employee if user else None
    teams = getattr(user, 'cc_teams', None) if user else None
    values = {
        'interface': interface, 'extension': extension,
        'user': user.id if user else None,
        'employee': employee.id if employee else None,
        'skills': [('create', [{'skill': skills[code], 'proficiency': level}
                    for code, level in proficiencies.items()])],
        'memberships': [('create', [{'queue': queues[code], 'penalty': penalty}
                    for code, penalty in memberships.items()])],
        }
    if teams:
        values['team'] = teams[0].id
    return values


def _dnis(pool, queues, created):
    Dnis = pool.get('cc.dnis')
    existing = {d.number for d in Dnis.search(
            [('active', 'in', [True, False])])}
    _count(created, 'cc.dnis', Dnis.create([
                {'number': number, 'service': service, 'queue': queues[queue],
                    'priority': priority}
                for number, service, queue, priority in DNIS
                if number not in existing]))


def _ivr_menus(pool, queues, created):
    "The IVR menu tree of IVR_MENUS, menus that exist left as they are."
    Menu = pool.get('cc.ivr.menu')
    existing = {m.code for m in Menu.search(
            [('active', 'in', [True, False])])}
    new = [row for row in IVR_MENUS if row[0] not in existing]
    menus = {m.code: m for m in _count(created, 'cc.ivr.menu', Menu.create([
                    {'code': code, 'name': name, 'greeting': greeting,
                        'invalid_prompt': 'cc-ivr-invalid'}
                    for code, name, greeting, _, _ in new]))}
    every = {m.code: m.id for m in Menu.search(
            [('active', 'in', [True, False])])}
    for code, _, _, parent, options in new:
        values = []
        for key, action, target, language_menu, label in options:
            option = {'key': key, 'action': action, 'label': label}
            if action == 'language':
                option.update(language=target,
                    submenu=every.get(language_menu))
            elif action == 'submenu':
                option['submenu'] = every[target]
            elif action == 'queue':
                option['queue'] = queues[target]
            elif action == 'self_service':
                option['service'] = target
            values.append(option)
        Menu.write([menus[code]], {'parent': every.get(parent),
                'options': [('create', values)]})
    # With cc_ticket, callers with an open ticket hear its state first.
    intro = 'open_ticket_status'
    if 'main' in menus and intro in dict(Menu.get_intro_services()):
        Menu.write([menus['main']], {'intro_service': intro})


def _announcements(pool, created):
    Announcement = pool.get('cc.announcement')
    Dnis = pool.get('cc.dnis')
    existing = {a.name for a in Announcement.search(
            [('active', 'in', [True, False])])}
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    _count(created, 'cc.announcement', Announcement.create([
                {'name': name, 'kind': kind, 'prompt': prompt,
                    'valid_from': now, 'valid_to': now + dt.timedelta(days),
                    'services': [('add', [d.id for d in Dnis.search(
                                        [('number', 'in', numbers)])])],
                    'regions': regions}
                for name, kind, prompt, days, numbers, regions
                in ANNOUNCEMENTS if name not in existing]))


def has_pbx(database, code):
    "Whether cc_telephony is activated and the PBX ``code`` exists."
    with session.transaction(database, readonly=True) as pool:
        return _activated(pool, 'cc_telephony') and bool(
            pool.get('cc.pbx').search([('code', '=', code)]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--database', '-d', default='demo')
    parser.add_argument('--has-pbx', metavar='CODE',
        help="only check: exit 0 if the active PBX CODE exists, else 1")
    args = parser.parse_args(argv)
    if args.has_pbx:
        raise SystemExit(0 if has_pbx(args.database, args.has_pbx) else 1)
    created = setup(args.database)
    summary = ', '.join(f'{n} {model}' for model, n in sorted(created.items()))
    print(f"demo telephony: {summary or 'nothing to add'}")


if __name__ == '__main__':
    main()
