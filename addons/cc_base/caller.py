from trytond.model import Model, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, PYSONEncoder
from trytond.rpc import RPC
from trytond.transaction import Transaction
from trytond.wizard import Button, StateAction, StateView, Wizard

from . import number

PHONE_TYPES = ('phone', 'mobile', 'fax')


class Caller(Model):
    "Caller Identification"
    __name__ = 'cc.caller'

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
    def match_party_ids(cls, key):
        "Ids of the active parties having the number (E.164 or raw)."
        pool = Pool()
        Mechanism = pool.get('party.contact_mechanism')
        Party = pool.get('party.party')
        mechanism = Mechanism.__table__()
        party = Party.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*mechanism.join(
                party, condition=mechanism.party == party.id).select(
                mechanism.party,
                where=(mechanism.value_compact == key)
                & mechanism.type.in_(PHONE_TYPES)
                & (mechanism.active == True)  # noqa: E712
                & (party.active == True),  # noqa: E712
                group_by=[mechanism.party],
                order_by=[mechanism.party]))
        return [i for i, in cursor]

    @classmethod
    def identify(cls, raw):
        """Everything a PBX, the router or a partner system needs about a
        caller number: where it is from, every party having it and whether
        it is on a list. Several parties may share a number."""
        pool = Pool()
        Party = pool.get('party.party')
        ListEntry = pool.get('cc.list.entry')
        ModelAccess = pool.get('ir.model.access')
        ModelAccess.check(cls.__name__, 'read')
        caller = cls.parse(raw)
        party_ids = cls.match_party_ids(caller.key)
        parties = Party.browse(party_ids)
        list_status = ListEntry.status_for(
            numbers=[caller.e164], party=None)
        party_status = {p.id: ListEntry.status_for(party=p) for p in parties}
        statuses = {list_status, *party_status.values()}
        pool.get('cc.audit.log').record(
            'lookup', caller.key, party=party_ids[0] if party_ids else None)
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
            'list_status': (
                'black' if 'black' in statuses
                else 'red' if 'red' in statuses else None),
            'routing_priority': max(
                [p.cc_tier.routing_priority for p in parties if p.cc_tier],
                default=0),
            'vip': any(p.cc_vip for p in parties),
            'parties': [cls._party_summary(p, party_status[p.id])
                for p in parties],
            }

    @classmethod
    def _party_summary(cls, party, list_status):
        return {
            'id': party.id,
            'name': party.rec_name,
            'code': party.code,
            'customer_type': party.cc_customer_type,
            'tier': party.cc_tier.rec_name if party.cc_tier else None,
            'routing_priority': (
                party.cc_tier.routing_priority if party.cc_tier else 0),
            'vip': party.cc_vip,
            'list_status': list_status,
            }


class CallerLookupStart(ModelView):
    "Caller Lookup"
    __name__ = 'cc.caller.lookup.start'
    number = fields.Char("Caller Number", required=True)


class CallerLookupResult(ModelView):
    "Caller Lookup Result"
    __name__ = 'cc.caller.lookup.result'
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
    "Caller Lookup"
    __name__ = 'cc.caller.lookup'
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
