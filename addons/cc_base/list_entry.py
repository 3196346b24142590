import datetime

from sql import Null

from trytond.i18n import gettext
from trytond.model import DeactivableMixin, Index, ModelSQL, ModelView, fields
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

LIST_TYPES = [
    ('black', "Blacklist"),
    ('red', "Red List"),
    ]


class ListEntry(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'cc.list.entry'
    __string__ = "Caller List Entry"
    list_type = fields.Selection(LIST_TYPES, "List", required=True)
    list_type_string = list_type.translated('list_type')
    number = fields.Char(
        "Number", states={
            'required': ~Eval('party'),
            },
        help="Stored in E.164 form; any dialled form is accepted.")
    party = fields.Many2One(
        'party.party', "Party", ondelete='CASCADE', states={
            'required': ~Eval('number'),
            })
    reason = fields.Text("Reason", required=True)
    valid_from = fields.DateTime("Valid From", required=True)
    valid_to = fields.DateTime("Valid To")
    added_by = fields.Many2One('res.user', "Added By", readonly=True)
    region = fields.Char("Region", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.number, Index.Equality())),
                Index(t, (t.party, Index.Range())),
                })
        cls._order = [('valid_from', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_valid_from(cls):
        return datetime.datetime.now().replace(microsecond=0)

    @classmethod
    def default_added_by(cls):
        return Transaction().user

    @classmethod
    def default_list_type(cls):
        return 'black'

    def get_rec_name(self, name):
        target = self.party.rec_name if self.party else self.number
        return f'{self.list_type_string}: {target}'

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if values.get('number'):
            values.update(cls._normalise(values['number']))
        if mode == 'create':
            values.setdefault('added_by', Transaction().user)
        return values

    @classmethod
    def _normalise(cls, raw):
        pool = Pool()
        Configuration = pool.get('cc.configuration')
        from .number import parse
        caller = parse(raw, **Configuration.caller_options())
        if not caller.valid:
            raise ValidationError(gettext(
                    'cc_base.msg_list_entry_invalid_number', number=raw))
        return {'number': caller.e164, 'region': caller.region}

    @classmethod
    def validate_fields(cls, entries, field_names):
        super().validate_fields(entries, field_names)
        cls.check_dates(entries)
        cls.check_duplicates(entries)

    @classmethod
    def check_dates(cls, entries):
        for entry in entries:
            if entry.valid_to and entry.valid_to <= entry.valid_from:
                raise ValidationError(gettext(
                        'cc_base.msg_list_entry_dates',
                        entry=entry.rec_name))

    @classmethod
    def check_duplicates(cls, entries):
        for entry in entries:
            if not entry.active:
                continue
            domain = [
                ('id', '!=', entry.id),
                ('list_type', '=', entry.list_type),
                ['OR',
                    ('valid_to', '=', None),
                    ('valid_to', '>', entry.valid_from)],
                ]
            if entry.valid_to:
                domain.append(('valid_from', '<', entry.valid_to))
            if entry.number:
                domain.append(('number', '=', entry.number))
            else:
                domain.append(('party', '=', entry.party.id))
                domain.append(('number', '=', None))
            if cls.search(domain, limit=1):
                raise ValidationError(gettext(
                        'cc_base.msg_list_entry_duplicate',
                        entry=entry.rec_name))

    @classmethod
    def on_modification(cls, mode, entries, field_names=None):
        super().on_modification(mode, entries, field_names=field_names)
        AuditLog = Pool().get('cc.audit.log')
        for entry in entries:
            AuditLog.record(
                'list_change', f'{cls.__name__},{entry.id}',
                party=entry.party.id if entry.party else None,
                details=f'{mode}: {entry.rec_name}')

    @classmethod
    def strongest(cls, list_types):
        """A blacklist entry outranks a red-list entry: a blocked caller is
        never served with priority."""
        for list_type in ('black', 'red'):
            if list_type in list_types:
                return list_type
        return None

    @classmethod
    def status_for(cls, numbers=(), party=None, at=None):
        "Effective list of numbers and/or a party at a time."
        party_ids = [party if isinstance(party, int) else party.id] \
            if party else []
        number_types, party_types = cls.active_types_by_party(
            numbers, party_ids, at=at)
        return cls.strongest(number_types.union(*party_types.values()))

    @classmethod
    def active_types_by_party(cls, numbers, party_ids, at=None):
        """List types in force for the numbers (one set) and for each party
        (a dict), in one query."""
        if at is None:
            at = datetime.datetime.now()
        numbers = [n for n in numbers if n]
        number_types, party_types = set(), {}
        if not numbers and not party_ids:
            return number_types, party_types
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        match = []
        if numbers:
            match.append(table.number.in_(numbers))
        if party_ids:
            match.append(table.party.in_(party_ids))
        condition = match[0] if len(match) == 1 else match[0] | match[1]
        cursor.execute(*table.select(table.list_type, table.number,
                table.party,
                where=condition
                & (table.active == True)  # noqa: E712
                & (table.valid_from <= at)
                & ((table.valid_to == Null) | (table.valid_to > at))))
        for list_type, number, party_id in cursor:
            if number in numbers:
                number_types.add(list_type)
            if party_id in party_ids:
                party_types.setdefault(party_id, set()).add(list_type)
        return number_types, party_types
