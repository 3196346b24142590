from sql.aggregate import Count, Max

from trytond.model import Index, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import number

CUSTOMER_TYPES = [
    ('individual', "Individual"),
    ('enterprise', "Enterprise"),
    ]
LINE_TYPES = [
    (None, ""),
    ('mobile', "Mobile"),
    ('fixed', "Fixed Line"),
    ('toll_free', "Toll Free"),
    ('shared_cost', "Shared Cost (400)"),
    ('voip', "VoIP"),
    ('service', "Service Number"),
    ('other', "Other"),
    ]
# Fields whose reading means "a user opened the customer 360".
AUDITED_360_FIELDS = {'cc_interactions', 'cc_history_notes'}


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'
    cc_customer_type = fields.Selection(
        CUSTOMER_TYPES, "Customer Type", required=True)
    cc_tier = fields.Many2One(
        'cc.customer.tier', "Tier", ondelete='RESTRICT',
        help="Service level of the customer; drives routing priority.")
    cc_vip = fields.Function(fields.Boolean("VIP"), 'get_cc_vip')
    cc_history_notes = fields.Text(
        "History Notes",
        help="Free-text notepad kept across contacts with the customer.")
    cc_interactions = fields.One2Many(
        'cc.interaction', 'party', "Contact History", readonly=True)
    cc_interaction_count = fields.Function(
        fields.Integer("Contacts"), 'get_cc_interaction_stats')
    cc_last_contact = fields.Function(
        fields.DateTime("Last Contact"), 'get_cc_interaction_stats')
    cc_list_entries = fields.One2Many(
        'cc.list.entry', 'party', "List Entries", readonly=True)
    cc_list_status = fields.Function(fields.Selection([
                (None, ""),
                ('black', "Blacklisted"),
                ('red', "Red List"),
                ], "List Status"), 'get_cc_list_status')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # What the caller lookup (cc.caller, the router) reads of a party
        # by its id, answered from the index alone (see the covering index
        # of party.contact_mechanism).
        cls._sql_indexes.add(Index(t, (t.id, Index.Range()),
                include=[t.cc_tier, t.active]))

    @classmethod
    def default_cc_customer_type(cls):
        return 'individual'

    @classmethod
    def default_contact_mechanisms(cls):
        "Prefill the number of an unknown caller (see cc.caller.lookup)."
        number = Transaction().context.get('cc_new_number')
        if number:
            return [{'type': 'phone', 'value': number}]
        return []

    def get_cc_vip(self, name):
        return bool(self.cc_tier and self.cc_tier.vip)

    @classmethod
    def get_cc_interaction_stats(cls, parties, names):
        pool = Pool()
        Interaction = pool.get('cc.interaction')
        table = Interaction.__table__()
        cursor = Transaction().connection.cursor()
        result = {n: {p.id: None for p in parties} for n in names}
        if 'cc_interaction_count' in names:
            result['cc_interaction_count'] = {p.id: 0 for p in parties}
        ids = [p.id for p in parties]
        cursor.execute(*table.select(
                table.party, Count(), Max(table.start),
                where=table.party.in_(ids), group_by=[table.party]))
        for party_id, count, last in cursor:
            if 'cc_interaction_count' in names:
                result['cc_interaction_count'][party_id] = count
            if 'cc_last_contact' in names:
                result['cc_last_contact'][party_id] = last
        return result

    @classmethod
    def get_cc_list_status(cls, parties, name):
        pool = Pool()
        ListEntry = pool.get('cc.list.entry')
        return {
            p.id: ListEntry.status_for(
                numbers=[m.value_compact for m in p.contact_mechanisms
                    if m.type in {'phone', 'mobile', 'fax'}],
                party=p)
            for p in parties}

    @classmethod
    def read(cls, ids, fields_names):
        result = super().read(ids, fields_names)
        if (len(ids) == 1 and AUDITED_360_FIELDS & set(fields_names)
                and Transaction().check_access):
            Pool().get('cc.audit.log').record(
                'read_360', f'party.party,{ids[0]}', party=ids[0])
        return result

    @classmethod
    def check_modification(cls, mode, parties, values=None, external=False):
        super().check_modification(
            mode, parties, values=values, external=external)
        if mode == 'write' and 'cc_tier' in values:
            cls._audit_tier_change(parties, values['cc_tier'])

    @classmethod
    def _audit_tier_change(cls, parties, tier_id):
        pool = Pool()
        AuditLog = pool.get('cc.audit.log')
        Tier = pool.get('cc.customer.tier')
        new = Tier(tier_id).rec_name if tier_id else '-'
        for party in parties:
            old = party.cc_tier.rec_name if party.cc_tier else '-'
            if old != new:
                AuditLog.record(
                    'tier_change', str(party), party=party.id,
                    details=f'{old} → {new}')


class ContactMechanism(metaclass=PoolMeta):
    __name__ = 'party.contact_mechanism'
    cc_province = fields.Char("Province", readonly=True, states={
            'invisible': ~Eval('cc_province'),
            })
    cc_city = fields.Char("City", readonly=True, states={
            'invisible': ~Eval('cc_city'),
            })
    cc_carrier = fields.Char("Carrier", readonly=True, states={
            'invisible': ~Eval('cc_carrier'),
            })
    cc_line_type = fields.Selection(LINE_TYPES, "Line Type", readonly=True,
        states={
            'invisible': ~Eval('cc_line_type'),
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # Caller lookup compares E.164 values for equality: a B-tree index,
        # the trigram index of party cannot serve it. It also holds what
        # the lookup reads of the row, so that PostgreSQL answers from the
        # index alone: a random caller among millions is then one index
        # page to read instead of an index page and a table page.
        cls._sql_indexes.add(Index(t, (t.value_compact, Index.Equality()),
                include=[t.party, t.type, t.active]))

    @fields.depends('party', '_parent_party.addresses')
    def _phone_country_codes(self):
        # party's version reads address.country, which the rows of a new
        # customer form (e.g. prefilled from a screen pop) do not carry.
        if self.party:
            for address in self.party.addresses or []:
                country = getattr(address, 'country', None)
                if country:
                    yield country.code

    @fields.depends(methods=['_phone_country_codes'])
    def _parse_phonenumber(self, value):
        phonenumber = super()._parse_phonenumber(value)
        if phonenumber is None and value:
            caller = self._cc_parse(value)
            if caller.valid:
                import phonenumbers
                phonenumber = phonenumbers.parse(caller.e164)
        return phonenumber

    @staticmethod
    def _cc_parse(value):
        Configuration = Pool().get('cc.configuration')
        return number.parse(value, **Configuration.caller_options())

    def compute_fields(self, field_names=None):
        values = super().compute_fields(field_names=field_names)
        if field_names is None or {'value', 'type'} & field_names:
            values.update(self._cc_region_values())
        return values

    def _cc_region_values(self):
        caller = None
        if (getattr(self, 'type', None) in {'phone', 'mobile', 'fax'}
                and getattr(self, 'value', None)):
            caller = self._cc_parse(self.value)
        values = {
            'cc_province': caller.province if caller else None,
            'cc_city': caller.city if caller else None,
            'cc_carrier': caller.carrier if caller else None,
            'cc_line_type': caller.line_type if caller else None,
            }
        return {k: v for k, v in values.items()
            if getattr(self, k, None) != v}
