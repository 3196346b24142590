"""Realistic demo data: Chinese customers, numbers, tiers, lists, contacts.

    python -m ccsuite.demo --database demo --size 300

Individuals and enterprises get mobile and fixed-line numbers from many
provinces, a tier (most standard, few VIP), some share a number (a family
line), a few are on the black or red list, and most have a contact history.
The same synthesis feeds ``bulk_insert``, which the benchmarks use to load
10^5–10^6 parties with plain SQL. Loading twice into one database adds
nothing (the demo category marks what was loaded).
"""
import argparse
import datetime
import random
from dataclasses import dataclass, field

from . import session

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁"
    "潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦"
    "邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉兰文辉"
    "鹏飞宇浩然子涵欣怡梓轩思雨嘉怡俊杰晓东海燕春梅建华丹丹雪梅")
CITIES = (
    ('北京', '010'), ('上海', '021'), ('广州', '020'), ('深圳', '0755'),
    ('成都', '028'), ('武汉', '027'), ('杭州', '0571'), ('南京', '025'),
    ('西安', '029'), ('长沙', '0731'), ('重庆', '023'), ('天津', '022'),
    ('沈阳', '024'), ('哈尔滨', '0451'), ('郑州', '0371'), ('济南', '0531'),
    ('昆明', '0871'), ('南宁', '0771'), ('乌鲁木齐', '0991'),
    ('呼和浩特', '0471'), ('拉萨', '0891'), ('兰州', '0931'),
    ('福州', '0591'), ('合肥', '0551'), ('南昌', '0791'), ('贵阳', '0851'),
    ('海口', '0898'), ('太原', '0351'), ('石家庄', '0311'), ('长春', '0431'),
    ('银川', '0951'), ('西宁', '0971'), ('宜昌', '0717'), ('襄阳', '0710'),
    )
MOBILE_PREFIXES = (
    '130', '131', '132', '133', '135', '136', '137', '138', '139', '150',
    '151', '152', '153', '155', '156', '157', '158', '159', '166', '176',
    '177', '180', '181', '182', '183', '185', '186', '187', '188', '189',
    '191', '198', '199')
INDUSTRIES = ('科技', '燃气', '物流', '商贸', '电子', '建设', '食品', '医药',
    '通信', '能源', '文化传媒', '信息服务')
# (code, share of customers)
TIERS = (('STD', 0.70), ('SILVER', 0.18), ('GOLD', 0.09), ('VIP', 0.03))
CHANNELS = (('phone', 0.62), ('sms', 0.10), ('web', 0.10), ('email', 0.07),
    ('voicemail', 0.04), ('fax', 0.02), ('letter', 0.02), ('walk_in', 0.03))
SUMMARIES = (
    "咨询本月话费账单明细", "宽带故障报修，已登记上门", "投诉信号差，已致歉并转网络部",
    "办理套餐变更", "查询积分兑换规则", "燃气表读数异常，预约抄表员",
    "要求开具发票", "咨询国际漫游资费", "反映营业厅服务态度问题",
    "建议增加夜间客服时段", "挂失补卡", "预约燃气安检上门")
BLACK_REASONS = ("多次恶意骚扰坐席", "辱骂坐席，已警告", "频繁无声呼叫")
RED_REASONS = ("重要客户，优先接待", "媒体记者，需班组长接待", "人大代表投诉渠道")
DEMO_CATEGORY = "演示数据 (Demo)"


@dataclass
class Customer:
    name: str
    customer_type: str
    tier: str
    numbers: list = field(default_factory=list)  # (type, raw)
    notes: str = ''


def _pick(rng, weighted):
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def _valid(make):
    "Draw numbers until phonenumbers accepts one (numbering plans differ)."
    import phonenumbers
    while True:
        raw = make()
        if phonenumbers.is_valid_number(phonenumbers.parse(raw, 'CN')):
            return raw


def _mobile(rng):
    return _valid(lambda: rng.choice(MOBILE_PREFIXES)
        + '%08d' % rng.randrange(10 ** 8))


def _fixed(rng):
    def make():
        city, code = rng.choice(CITIES)
        digits = rng.choice((7, 8))
        first = str(rng.randint(2, 8))
        rest = rng.randrange(10 ** (digits - 1))
        return f'{code}-{first}{rest:0{digits - 1}d}'
    return _valid(make)


def synthesise(size, seed=20261123):
    "Yield size customers; about 2 % share a number with the previous one."
    rng = random.Random(seed)
    previous = None
    for index in range(size):
        if rng.random() < 0.12:
            city, _ = rng.choice(CITIES)
            name = (f"{city}{rng.choice(SURNAMES)}{rng.choice(INDUSTRIES)}"
                f"有限公司{index}")
            customer = Customer(name, 'enterprise', _pick(rng, TIERS),
                [('phone', _fixed(rng))])
            if rng.random() < 0.5:
                customer.numbers.append(('mobile', _mobile(rng)))
        else:
            name = rng.choice(SURNAMES) + ''.join(
                rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
            customer = Customer(name, 'individual', _pick(rng, TIERS),
                [('mobile', _mobile(rng))])
            if rng.random() < 0.15:
                customer.numbers.append(('phone', _fixed(rng)))
        if previous and rng.random() < 0.02:
            customer.numbers.append(previous.numbers[0])
        if rng.random() < 0.05:
            customer.notes = "客户偏好短信通知；来电请核实身份后再办理业务。"
        previous = customer
        yield customer


def load(database, size, seed=20261123, with_history=True):
    "Create the demo customers through the ORM (validation included)."
    with session.transaction(database, context={'language': 'zh_CN'}) as pool:
        Category = pool.get('party.category')
        if Category.search([('name', '=', DEMO_CATEGORY)]):
            return 0
        category, = Category.create([{'name': DEMO_CATEGORY}])
        tiers = _tiers(pool)
        Party = pool.get('party.party')
        parties = Party.create([
                _party_values(c, tiers, category.id)
                for c in synthesise(size, seed)])
        rng = random.Random(seed)
        _list_entries(pool, parties, rng)
        if with_history:
            _history(pool, parties, rng)
        return len(parties)


def _tiers(pool):
    Tier = pool.get('cc.customer.tier')
    return {t.code: t.id for t in Tier.search([])}


def _party_values(customer, tiers, category_id):
    return {
        'name': customer.name,
        'cc_customer_type': customer.customer_type,
        'cc_tier': tiers.get(customer.tier),
        'cc_history_notes': customer.notes or None,
        'categories': [('add', [category_id])],
        'contact_mechanisms': [('create', [
                    {'type': t, 'value': v} for t, v in customer.numbers])],
        }


def _list_entries(pool, parties, rng):
    ListEntry = pool.get('cc.list.entry')
    now = datetime.datetime.now().replace(microsecond=0)
    values = []
    for party in rng.sample(parties, max(1, len(parties) // 50)):
        black = rng.random() < 0.5
        number = party.contact_mechanisms[0].value
        values.append({
                'list_type': 'black' if black else 'red',
                'number': number if black else None,
                'party': None if black else party.id,
                'reason': rng.choice(BLACK_REASONS if black else RED_REASONS),
                'valid_from': now - datetime.timedelta(days=rng.randint(1, 90)),
                'valid_to': (now + datetime.timedelta(days=180))
                if black else None,
                })
    ListEntry.create(values)


def _history(pool, parties, rng):
    Interaction = pool.get('cc.interaction')
    User = pool.get('res.user')
    Team = pool.get('cc.team')
    agents = User.search([('login', 'in', ['agent', 'agent2'])])
    teams = Team.search([], limit=1)
    now = datetime.datetime.now().replace(microsecond=0)
    values = []
    for party in parties:
        for _ in range(rng.choice((0, 1, 1, 2, 3, 5))):
            start = now - datetime.timedelta(
                days=rng.randint(0, 180), minutes=rng.randint(0, 600))
            values.append({
                    'channel': _pick(rng, CHANNELS),
                    'direction': 'inbound' if rng.random() < 0.8
                    else 'outbound',
                    'start': start,
                    'end': start + datetime.timedelta(
                        seconds=rng.randint(30, 900)),
                    'party': party.id,
                    'number': party.contact_mechanisms[0].value,
                    'agent': rng.choice(agents).id if agents else None,
                    'team': teams[0].id if teams else None,
                    'summary': rng.choice(SUMMARIES),
                    })
    Interaction.create(values)


def bulk_insert(cursor, size, tier_ids, seed=20261123, batch=20000,
        placeholder='?'):
    """Insert size parties and their numbers with plain SQL (benchmarks).

    Numbers are normalised with the same code as the ORM path so that
    lookups find them; returns the E.164 numbers inserted, in order."""
    from trytond.modules.cc_base import number
    numbers = []
    now = datetime.datetime.now()
    party_sql = ('INSERT INTO party_party (active, code, name, '
        'cc_customer_type, cc_tier, create_uid, create_date) VALUES '
        f'(TRUE, {", ".join([placeholder] * 6)})')
    cursor.execute('SELECT COALESCE(MAX(id), 0) FROM party_party')
    first_id = cursor.fetchone()[0] + 1
    rows, mechanisms = [], []
    for index, customer in enumerate(synthesise(size, seed)):
        party_id = first_id + index
        rows.append((f'B{party_id}', customer.name, customer.customer_type,
                tier_ids.get(customer.tier), 0, now))
        for kind, raw in customer.numbers:
            parsed = number.parse(raw)
            mechanisms.append((party_id, kind, raw, parsed.key,
                    parsed.province, parsed.city, parsed.line_type, 0, now))
            numbers.append(parsed.key)
        if len(rows) >= batch:
            _flush(cursor, party_sql, rows, mechanisms, placeholder)
    _flush(cursor, party_sql, rows, mechanisms, placeholder)
    return numbers


def _flush(cursor, party_sql, rows, mechanisms, placeholder):
    cursor.executemany(party_sql, rows)
    cursor.executemany(
        'INSERT INTO party_contact_mechanism (active, party, type, value, '
        'value_compact, cc_province, cc_city, cc_line_type, create_uid, '
        f'create_date) VALUES (TRUE, {", ".join([placeholder] * 9)})',
        mechanisms)
    rows.clear()
    mechanisms.clear()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--database', '-d', default='demo')
    parser.add_argument('--size', type=int, default=300,
        help="number of customers")
    parser.add_argument('--seed', type=int, default=20261123)
    args = parser.parse_args(argv)
    created = load(args.database, args.size, args.seed)
    print(f"demo data: {created} customers created" if created
        else "demo data: already loaded")


if __name__ == '__main__':
    main()
