from trytond.model import Model, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, PYSONEncoder
from trytond.rpc import RPC
from trytond.transaction import Transaction
from trytond.wizard import Button, StateAction, StateView, Wizard

from . import number

PHONE_TYPES = ('phone', 'mobile', 'fax')


class Caller(Model):
    __name__ = 'cc.caller'
    __string__ = "Caller Identification"

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__rpc__.update({
                'identify': RPC(readonly=False),
                })

    @classmethod
    def parse(cls, raw):
        Configuration = Pool().get('cc.configuration')
        return number.parse(raw, **Configuration.caller_options())

    @classmethod
    def match_parties(cls, key):
        """Active parties having the number (E.164 or raw), with their tier:
        one indexed query, as the router calls this for every call."""
        pool = Pool()
        Mechanism = pool.get('party.contact_mechanism')
        Party = pool.get('party.party')
        mechanism = Mechanism.__table__()
        party = Party.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*mechanism.join(
                party, condition=mechanism.party == party.id).select(
                party.id, party.name, party.code, party.cc_customer_type,
                party.cc_tier,
                where=(mechanism.value_compact == key)
                & mechanism.type.in_(PHONE_TYPES)
                & (mechanism.active == True)  # noqa: E712
                & (party.active == True),  # noqa: E712
                group_by=[party.id, party.name, party.code,
                    party.cc_customer_type, party.cc_tier],
                order_by=[party.id]))
        return cursor.fetchall()

    @classmethod
    def identify(cls, raw):
        """Everything a PBX, the router or a partner system needs about a
        caller number: where it is from, every party having it and whether
        it is on a list. Several parties may share a number."""
        pool = Pool()
        ListEntry = pool.get('cc.list.entry')
        Tier = pool.get('cc.customer.tier')
        ModelAccess = pool.get('ir.model.access')
        ModelAccess.check(cls.__name__, 'read')
        caller = cls.parse(raw)
        rows = cls.match_parties(caller.key)
        tiers = Tier.summaries()
        number_types, party_types = ListEntry.active_types_by_party(
            [caller.e164] if caller.e164 else [], [r[0] for r in rows])
        parties = [{
                'id': party_id,
                'name': name,
                'code': code,
                'customer_type': customer_type,
                'tier': tiers[tier_id]['name'] if tier_id in tiers else None,
                'routing_priority': tiers.get(tier_id, {}).get(
                    'routing_priority', 0),
                'vip': tiers.get(tier_id, {}).get('vip', False),
                'list_status': ListEntry.strongest(
                    number_types | party_types.get(party_id, set())),
                } for party_id, name, code, customer_type, tier_id in rows]
        return {
            'raw': raw,
            'number': caller.e164,
            'valid': caller.valid,
            'country': caller.country,
            'province': caller.province,
            'city': caller.city,
            'region': caller.region,
            'carrier': caller.carrier,
            'line_type': caller.line_type,
            'list_status': ListEntry.strongest(
                number_types.union(*party_types.values())),
            'routing_priority': max(
                [p['routing_priority'] for p in parties], default=0),
            'vip': any(p['vip'] for p in parties),
            'parties': parties,
            }


class CallerLookupStart(ModelView):
    __name__ = 'cc.caller.lookup.start'
    __string__ = "Caller Lookup"
    number = fields.Char("Caller Number", required=True)


class CallerLookupResult(ModelView):
    __name__ = 'cc.caller.lookup.result'
    __string__ = "Caller Lookup Result"
    number = fields.Char("Number", readonly=True)
    region = fields.Char("Region", readonly=True)
    carrier = fields.Char("Carrier", readonly=True)
    line_type = fields.Char("Line Type", readonly=True)
    list_status = fields.Selection([
            (None, ""),
            ('black', "Blacklisted"),
            ('red', "Red List"),
            ], "List Status", readonly=True)
    parties = fields.Many2Many(
        'party.party', None, None, "Matching Customers", readonly=True)
    party = fields.Many2One(
        'party.party', "Customer to Open",
        domain=[('id', 'in', Eval('parties', []))],
        help="Leave empty to create a new customer with this number.")


class CallerLookup(Wizard):
    __name__ = 'cc.caller.lookup'
    __string__ = "Caller Lookup"
    start = StateView('cc.caller.lookup.start',
        'cc_base.caller_lookup_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Look Up", 'result', 'tryton-search', default=True),
            ])
    result = StateView('cc.caller.lookup.result',
        'cc_base.caller_lookup_result_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Open", 'open_', 'tryton-forward', default=True),
            ])
    open_ = StateAction('party.act_party_form')

    def default_result(self, fields):
        Caller = Pool().get('cc.caller')
        info = Caller.identify(self.start.number)
        if info['parties']:
            Pool().get('cc.audit.log').record(
                'lookup', info['number'] or info['raw'],
                party=info['parties'][0]['id'])
        party_ids = [p['id'] for p in info['parties']]
        return {
            'number': info['number'] or info['raw'],
            'region': info['region'],
            'carrier': info['carrier'],
            'line_type': info['line_type'],
            'list_status': info['list_status'],
            'parties': party_ids,
            'party': party_ids[0] if len(party_ids) == 1 else None,
            }

    def do_open_(self, action):
        if self.result.party:
            action['res_id'] = [self.result.party.id]
            action['views'].reverse()
            return action, {}
        # Unknown caller: open a new customer form with the number filled.
        action['pyson_context'] = PYSONEncoder().encode({
                'cc_new_number': self.result.number,
                })
        action['views'].reverse()
        return action, {}
