"""What the router reads for every call, in plain SQL.

A Tryton transaction costs more than a routing decision (on SQLite it opens
a connection, ~15 ms), so the per-call reads run on one autocommit
connection per router thread (each statement sees the latest commit) with
SQL built once. They mirror ``cc.caller.identify`` (parties having the
number, list status, tier), ``cc.call.last_agent`` and
``cc.agent.live_states``; tests/test_router.py checks that both agree.

All of it is one statement (``call_reads``): each statement is a round trip
to the server and, in the router, a release and re-acquisition of the GIL
that waits behind whatever other thread holds it; with four separate
queries a decision took 1.5 ms on PostgreSQL, with one 0.45 ms.
"""
import datetime as dt
import functools
import threading

from sql import Cast, Literal, Null, Table, Union, With

from trytond.modules.cc_base import number as numbers

from . import routing

PHONE_TYPES = ('phone', 'mobile', 'fax')
# Full scans of the covering indexes the caller lookup reads (Lookup.warm_up):
# each selects a column only its covering index holds.
WARM_UP_QUERIES = (
    "SELECT count(party) FROM party_contact_mechanism "
    "WHERE value_compact >= ''",
    'SELECT count(cc_tier) FROM party_party WHERE id > 0',
    )


@functools.lru_cache(maxsize=100_000)
def parse(raw, default_region, local_area_code):
    "Callers call again: their parsed number is kept."
    return numbers.parse(raw, default_region=default_region,
        local_area_code=local_area_code)


class Lookup:

    def __init__(self, database):
        from trytond import backend
        self.database = database
        self.postgresql = backend.name == 'postgresql'
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

    def warm_up(self):
        """Read the caller indexes into PostgreSQL's shared buffers.

        The caller lookup is two index-only scans (cc_base's covering
        indexes on the contact mechanism's number and on the party's tier).
        With 10^6 customers, a caller's first call of the day otherwise
        reads their index pages from disk (1 to 20 ms each on network
        storage): the router's slowest answers. Walking both indexes once
        at start costs well under a second per million customers."""
        if not self.postgresql:
            return
        cursor = self.cursor()
        # Only an index-only scan reads the covering index itself; a
        # sequential or bitmap scan would read the tables instead.
        cursor.execute('SET enable_seqscan = off')
        cursor.execute('SET enable_bitmapscan = off')
        try:
            for query in WARM_UP_QUERIES:
                cursor.execute(query)
                cursor.fetchall()
        finally:
            cursor.execute('RESET enable_seqscan')
            cursor.execute('RESET enable_bitmapscan')

    def _execute(self, cursor, sql, params):
        """Execute; on PostgreSQL as a prepared statement from the first
        call (psycopg prepares only after five, and each router thread has
        its own connection: that was 80 plannings of 1 to 2 ms)."""
        if self.postgresql:
            cursor.execute(sql, params, prepare=True)
        else:
            cursor.execute(sql, params)

    def _query(self, key, build):
        "SQL text of a query, built once; parameters are bound per call."
        if key not in self._sql:
            self._sql[key] = build()
        return self._sql[key]

    def call_reads(self, raw, options, tiers, now, since=None):
        """(routing.Caller, (interface, answer time) of the caller's last
        answered leg or None, {interface: (state, since)}) in one
        statement. ``since`` None skips the last agent (no affinity)."""
        number = parse(raw or '', options.get('default_region') or 'CN',
            options.get('local_area_code'))
        with_last = since is not None
        sql = self._query(('call_reads', with_last),
            lambda: self._call_reads_sql(with_last))
        params = [number.key, *PHONE_TYPES, number.e164, now, now, now, now]
        if with_last:
            params += [number.e164, since, since]
        cursor = self.cursor()
        self._execute(cursor, sql, params)
        party_ids, tier_ids, list_types = set(), set(), set()
        last, states = None, {}
        for kind, party, tier, text, moment, state in cursor:
            if kind == 1:
                party_ids.add(party)
                if tier:
                    tier_ids.add(tier)
            elif kind == 2:
                list_types.add(text)
            elif kind == 3:
                last = text, _datetime(moment)
            else:
                states[text] = (state or 'logged_out', _datetime(moment))
        caller = routing.Caller(
            number=number.e164,
            region=number.region,
            party_ids=tuple(sorted(party_ids)),
            list_status=('black' if 'black' in list_types
                else 'red' if 'red' in list_types else None),
            routing_priority=max(
                (tiers[t][0] for t in tier_ids if t in tiers), default=0),
            vip=any(tiers[t][1] for t in tier_ids if t in tiers))
        return caller, last, states

    @staticmethod
    def _call_reads_sql(with_last):
        """One statement, a row per fact: the caller's parties (kind 1),
        the list types in force for the number or those parties (2), with
        ``with_last`` the caller's latest answered leg (3), and every
        active agent's live state (4).

        Matches on the number and on the parties are separate branches of a
        UNION ALL rather than one OR: an OR of an indexed column and a
        sub-query makes PostgreSQL scan the whole table."""
        mechanism, party = Table('party_contact_mechanism'), Table(
            'party_party')
        parties = With('id', 'tier', query=mechanism.join(party,
                condition=mechanism.party == party.id).select(
                party.id, party.cc_tier,
                where=(mechanism.value_compact == Literal('?'))
                & mechanism.type.in_([Literal('?')] * len(PHONE_TYPES))
                & (mechanism.active == Literal(True))
                & (party.active == Literal(True))))
        # PostgreSQL types the columns of a UNION branch by branch: an
        # untyped NULL first becomes text and then clashes with a timestamp.
        none = Literal(None)
        no_text, no_time = Cast(none, 'VARCHAR'), Cast(none, 'TIMESTAMP')

        def in_force(entry):
            return ((entry.active == Literal(True))
                & (entry.valid_from <= Literal('?'))
                & ((entry.valid_to == Null)
                    | (entry.valid_to > Literal('?'))))
        by_number, by_party = Table('cc_list_entry'), Table('cc_list_entry')
        branches = [
            parties.select(Literal(1), parties.id, parties.tier, no_text,
                no_time, no_text),
            by_number.select(Literal(2), none, none, by_number.list_type,
                no_time, no_text, where=(by_number.number == Literal('?'))
                & in_force(by_number)),
            by_party.select(Literal(2), none, none, by_party.list_type,
                no_time, no_text,
                where=by_party.party.in_(parties.select(parties.id))
                & in_force(by_party)),
            ]
        if with_last:
            legs = []
            for match in ('number', 'party'):
                call, leg = Table('cc_call'), Table('cc_call_leg')
                if match == 'number':
                    condition = call.caller_number == Literal('?')
                else:
                    condition = call.party.in_(parties.select(parties.id))
                legs.append(call.join(leg, condition=leg.call == call.id
                        ).select(leg.interface.as_('interface'),
                        leg.answer_time.as_('answer_time'),
                        where=condition & (call.enter_time >= Literal('?'))
                        & (leg.answer_time != Null)))
            answered = Union(*legs, all_=True)
            latest = answered.select(answered.interface,
                answered.answer_time, order_by=[answered.answer_time.desc],
                limit=1)
            # A sub-query, so that ORDER BY and LIMIT stay inside it.
            branches.append(latest.select(Literal(3), none, none,
                    latest.interface, latest.answer_time, no_text))
        agent = Table('cc_agent')
        branches.append(agent.select(Literal(4), none, none, agent.interface,
                agent.state_since, agent.state,
                where=agent.active == Literal(True)))
        query = Union(*branches, all_=True)
        query.with_ = [parties]
        return _with_markers(query)


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
        elif value is None:
            text += 'NULL' + part
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
