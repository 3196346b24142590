"""What the router reads for every call, in plain SQL.

A Tryton transaction costs more than a routing decision (on SQLite it opens
a connection, ~15 ms), so the per-call reads run on one autocommit
connection per router thread (each statement sees the latest commit) with
SQL built once. They mirror ``cc.caller.identify`` (parties having the
number, list status, tier), ``cc.call.last_agent`` and
``cc.agent.live_states``; tests/test_router.py checks that both agree.
"""
import datetime as dt
import functools
import threading

from sql import Literal, Null, Table

from trytond.modules.cc_base import number as numbers

from . import routing

PHONE_TYPES = ('phone', 'mobile', 'fax')


@functools.lru_cache(maxsize=100_000)
def parse(raw, default_region, local_area_code):
    "Callers call again: their parsed number is kept."
    return numbers.parse(raw, default_region=default_region,
        local_area_code=local_area_code)


class Lookup:

    def __init__(self, database):
        self.database = database
        self._local = threading.local()
        self._sql = {}

    def cursor(self):
        """A cursor on the thread's connection, or on the connection of the
        Tryton transaction running in this thread (tests, RPC)."""
        from trytond.transaction import Transaction
        transaction = Transaction()
        if transaction.database is not None:
            return transaction.connection.cursor()
        connection = getattr(self._local, 'connection', None)
        if connection is None:
            from trytond import backend
            database = backend.Database(self.database).connect()
            connection = database.get_connection(autocommit=True)
            self._local.connection = connection
        return connection.cursor()

    def reset(self):
        "Forget the thread's connection (after a database error)."
        connection = getattr(self._local, 'connection', None)
        self._local.connection = None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                pass

    def _query(self, key, build):
        "SQL text of a query, built once; parameters are bound per call."
        if key not in self._sql:
            self._sql[key] = build()
        return self._sql[key]

    def caller(self, raw, options, tiers, now):
        "routing.Caller of a raw number (tiers: {id: (priority, vip)})."
        number = parse(raw or '', options.get('default_region') or 'CN',
            options.get('local_area_code'))
        cursor = self.cursor()
        cursor.execute(self._query('parties', self._parties_sql),
            (number.key,) + PHONE_TYPES)
        rows = cursor.fetchall()
        party_ids = tuple(sorted({party for party, _ in rows}))
        tier_ids = {tier for _, tier in rows if tier}
        list_types = self.list_types(number.e164, party_ids, now)
        return routing.Caller(
            number=number.e164,
            region=number.region,
            party_ids=party_ids,
            list_status=('black' if 'black' in list_types
                else 'red' if 'red' in list_types else None),
            routing_priority=max(
                (tiers[t][0] for t in tier_ids if t in tiers), default=0),
            vip=any(tiers[t][1] for t in tier_ids if t in tiers))

    @staticmethod
    def _parties_sql():
        mechanism = Table('party_contact_mechanism')
        party = Table('party_party')
        query = mechanism.join(party,
            condition=mechanism.party == party.id).select(
            party.id, party.cc_tier,
            where=(mechanism.value_compact == Literal('?'))
            & mechanism.type.in_([Literal('?')] * len(PHONE_TYPES))
            & (mechanism.active == Literal(True))
            & (party.active == Literal(True)))
        return _with_markers(query)

    def list_types(self, e164, party_ids, now):
        "List types in force for the number or any of the parties."
        if not e164 and not party_ids:
            return set()
        key = ('lists', bool(e164), len(party_ids))
        sql = self._query(key, lambda: self._lists_sql(
                bool(e164), len(party_ids)))
        params = ([e164] if e164 else []) + list(party_ids) + [now, now]
        cursor = self.cursor()
        cursor.execute(sql, params)
        return {t for t, in cursor}

    @staticmethod
    def _lists_sql(with_number, parties):
        entry = Table('cc_list_entry')
        match = []
        if with_number:
            match.append(entry.number == Literal('?'))
        if parties:
            match.append(entry.party.in_([Literal('?')] * parties))
        condition = match[0]
        for other in match[1:]:
            condition |= other
        return _with_markers(entry.select(entry.list_type,
                where=condition & (entry.active == Literal(True))
                & (entry.valid_from <= Literal('?'))
                & ((entry.valid_to == Null)
                    | (entry.valid_to > Literal('?')))))

    def last_agent(self, e164, party_ids, since):
        "(interface, answer time) of the caller's latest answered leg."
        if not e164 and not party_ids:
            return None
        key = ('last', bool(e164), len(party_ids))
        sql = self._query(key, lambda: self._last_sql(
                bool(e164), len(party_ids)))
        cursor = self.cursor()
        cursor.execute(sql,
            ([e164] if e164 else []) + list(party_ids) + [since])
        row = cursor.fetchone()
        if row is None:
            return None
        return row[0], _datetime(row[1])

    @staticmethod
    def _last_sql(with_number, parties):
        call, leg = Table('cc_call'), Table('cc_call_leg')
        match = []
        if with_number:
            match.append(call.caller_number == Literal('?'))
        if parties:
            match.append(call.party.in_([Literal('?')] * parties))
        condition = match[0]
        for other in match[1:]:
            condition |= other
        return _with_markers(call.join(leg, condition=leg.call == call.id
                ).select(leg.interface, leg.answer_time,
                where=condition & (call.enter_time >= Literal('?'))
                & (leg.answer_time != Null),
                order_by=[leg.answer_time.desc], limit=1))

    def live_states(self):
        "{interface: (state, since)} of the active agents."
        cursor = self.cursor()
        cursor.execute(self._query('states', self._states_sql))
        return {i: (s or 'logged_out', _datetime(since))
            for i, s, since in cursor}

    @staticmethod
    def _states_sql():
        agent = Table('cc_agent')
        return _with_markers(agent.select(
                agent.interface, agent.state, agent.state_since,
                where=agent.active == Literal(True)))


def _with_markers(query):
    """SQL text of a python-sql query whose ``Literal('?')`` stand for
    parameters bound at each call, in the backend's paramstyle."""
    from sql import Flavor
    from trytond import backend
    flavor = backend.Database.flavor
    Flavor.set(flavor)
    sql, params = tuple(query)
    marker = '?' if flavor.paramstyle == 'qmark' else '%s'
    parts = sql.split(marker)
    text = parts[0]
    for value, part in zip(params, parts[1:]):
        # Placeholders stay placeholders; constants are inlined.
        if value == '?':
            text += marker + part
        elif value is True or value is False:
            text += ('TRUE' if value else 'FALSE') + part
        elif isinstance(value, int):
            text += str(value) + part  # LIMIT
        else:
            raise ValueError(f'unexpected constant {value!r} in routing SQL')
    return text


def _datetime(value):
    "SQLite may hand back text where PostgreSQL gives a datetime."
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))
