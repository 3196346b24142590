"""Bridge service: follows each PBX over AMI and writes what happens into
Tryton (calls, legs, agent state intervals, live agent states).

    python -m trytond.modules.cc_telephony.bridge -c trytond.conf -d DB

For every active cc.pbx an AMI client (ami.py: reconnect with backoff,
resynchronise from QueueStatus) feeds a tracker (tracker.py) whose facts
are stored through ``cc.call.ingest_facts`` and
``cc.agent.state.ingest_intervals``, both idempotent, so a fact stored twice
(replay after a crash, an event seen twice) changes nothing.

While the database cannot be written, facts go to an on-disk spool
(spool.py) and are replayed in order, before any newer fact, once it can.

The files of a PBX link (spool, dead letters, tracker state) are named after
the PBX and the database, and belong to one incarnation of that database
(its name, the cc.pbx id and creation time): a database dropped and created
again under the same name does not inherit the calls or facts of the old one.
"""
import asyncio
import concurrent.futures
import datetime as dt
import functools
import json
import logging
import os
import time
import urllib.parse

from . import screenpop
from .call import is_call_race
from .ami import AMIClient, AMIError, channel_uniqueids
from .spool import Spool, claim, set_aside
from .service import (
    argument_parser, configure_logging, init_pool, run_until_signalled)
from .tracker import Tracker

logger = logging.getLogger(__name__)

REPLAY_BATCH = 500
STATUS_EVERY = 5.0
POOL_WAIT = 2.0


def file_base(spool_dir, database, code, service='bridge'):
    """Path without suffix of the files of PBX ``code`` for ``database``:
    ``<service>-<code>@<database>`` (the bridge's, or the router's with
    ``service='router'``), each name quoted so that any name gives one safe
    file name and the ``@`` cannot be part of either."""
    def quote(name):
        return urllib.parse.quote(name or '', safe='')
    return os.path.join(spool_dir,
        f'{service}-{quote(code)}@{quote(database)}')


def incarnation(settings):
    """Identity of the database incarnation a PBX link writes to: its
    name, the cc.pbx record's id and creation time (a database created
    again under the same name has another creation time)."""
    created = settings.get('create_date')
    return {'database': settings.get('database'), 'pbx': settings['id'],
        'created': created.isoformat() if created else None}


def claim_incarnation(owner_path, identity, who, paths, spools=(),
        records='facts'):
    """Make a service's files belong to the database incarnation
    ``identity`` (spool.claim), warning of each file another incarnation
    left: set aside, neither replayed nor deleted. ``who`` names the
    service in the warning, ``records`` what its spool holds."""
    moved = claim(owner_path, identity, paths, spools)
    for path, aside in moved.items():
        log_set_aside(who, path, aside, 'belongs to another database or '
            f'incarnation than {identity}', records)


def log_set_aside(who, path, aside, why, records='facts'):
    "Warn that ``path`` is now ``aside``, with what a spool held."
    held = ''
    if path.endswith('.spool'):
        held = f' ({Spool.count(aside)} {records} not replayed)'
    logger.warning('%s: %s %s: moved to %s%s', who, path, why, aside, held)


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def encode(item):
    "JSON-safe copy of a fact: datetimes become {'$dt': iso}."
    if isinstance(item, dt.datetime):
        return {'$dt': item.isoformat()}
    if isinstance(item, dict):
        return {k: encode(v) for k, v in item.items()}
    if isinstance(item, (list, tuple)):
        return [encode(v) for v in item]
    return item


def decode(item):
    if isinstance(item, dict):
        if set(item) == {'$dt'}:
            return dt.datetime.fromisoformat(item['$dt'])
        return {k: decode(v) for k, v in item.items()}
    if isinstance(item, list):
        return [decode(v) for v in item]
    return item


def is_transient(error):
    """Whether a failed store may succeed later unchanged: the database is
    unavailable, locked or busy (OperationalError and InterfaceError of
    every DB-API driver, a refused connection, a lock timeout) or another
    writer created the same call meanwhile (call.is_call_race). Anything
    else is a fault of the data, which retrying cannot cure."""
    if isinstance(error, (ConnectionError, TimeoutError, OSError)):
        return True
    if is_call_race(error):
        return True
    names = {c.__name__ for c in type(error).__mro__}
    if names & {'OperationalError', 'InterfaceError',
            'DatabaseTimeoutException', 'PoolTimeout'}:
        return True
    text = str(error).lower()
    return any(s in text for s in ('connection refused', 'database is locked',
            'could not connect', 'server closed the connection'))


class FactSink:
    """Ordered, loss-free delivery of tracker facts to ``store``.

    ``store(calls, intervals)`` writes one batch in one transaction and
    raises when it cannot. A batch failing for a transient reason (see
    ``is_transient``) is spooled; while the spool holds anything, newer
    facts are spooled behind it so that order is kept. A batch failing for
    any other reason is bisected: the good facts are stored and the poison
    ones go, with their error, to the dead-letter file (``dead_path``,
    default the spool's name ending in ``.dead``) so they no longer block
    the facts behind them.
    """

    def __init__(self, store, spool_path, dead_path=None):
        self.store = store
        self.spool = Spool(spool_path)
        self.dead_path = dead_path or (
            os.path.splitext(spool_path)[0] + '.dead')
        self.pending = []
        self.stored = 0
        self.dead = self._count_dead()

    def _count_dead(self):
        if not os.path.exists(self.dead_path):
            return 0
        with open(self.dead_path, 'rb') as dead:
            return sum(1 for line in dead if line.endswith(b'\n'))

    def add(self, kind, data):
        self.pending.append((kind, data))

    @property
    def backlog(self):
        return len(self.spool)

    def flush(self):
        "Deliver what is pending; return True when nothing is left over."
        items, self.pending = self.pending, []
        if not self._replay():
            self._to_spool(items)
            return False
        if items and not self._deliver(items):
            self._to_spool(items)
            return False
        return True

    def _to_spool(self, items):
        for kind, data in items:
            self.spool.append({'kind': kind, 'data': encode(data)})

    def _replay(self):
        "Replay the spool in batches; False if the database is still down."
        batch, offset = [], None
        for offset, record in self.spool.replay():
            batch.append((record['kind'], decode(record['data'])))
            if len(batch) >= REPLAY_BATCH:
                if not self._deliver(batch):
                    return False
                self.spool.confirm(offset)
                batch = []
        if batch:
            if not self._deliver(batch):
                return False
            self.spool.confirm(offset)
        return True

    def _store(self, items):
        self.store([data for kind, data in items if kind == 'call'],
            [data for kind, data in items if kind == 'interval'])

    def _deliver(self, items):
        "Store ``items``; False (nothing dead-lettered) on a transient error."
        try:
            self._store(items)
        except Exception as error:
            if is_transient(error):
                logger.warning('storing %d facts failed (%s): spooled',
                    len(items), error)
                return False
            logger.warning('storing %d facts failed (%s): isolating the '
                'faulty ones', len(items), error)
            try:
                poison = self._isolate(items, error)
            except Exception as error:
                # Halves already stored are stored again at the retry,
                # which changes nothing (ingestion is idempotent).
                logger.warning('storing %d facts failed (%s): spooled',
                    len(items), error)
                return False
            self._bury(poison)
        else:
            poison = []
        self.stored += len(items) - len(poison)
        return True

    def _isolate(self, items, error):
        """Store the good facts of a failed batch by halves, in order;
        return [(item, error)] for each that fails on its own. Raises on a
        transient error."""
        if len(items) == 1:
            return [(items[0], error)]
        middle = len(items) // 2
        poison = []
        for half in (items[:middle], items[middle:]):
            try:
                self._store(half)
            except Exception as half_error:
                if is_transient(half_error):
                    raise
                poison += self._isolate(half, half_error)
        return poison

    def _bury(self, poison):
        "Append the poison facts to the dead-letter file, durably."
        if not poison:
            return
        with open(self.dead_path, 'ab') as dead:
            for (kind, data), error in poison:
                logger.error('fact %s %s cannot be stored (%s): written to %s',
                    kind, (data.get('uniqueid') or data.get('key'))
                    if isinstance(data, dict) else '?', error,
                    self.dead_path)
                line = json.dumps({
                        'at': utcnow().isoformat(), 'kind': kind,
                        'error': f'{type(error).__name__}: {error}',
                        'data': encode(data)},
                    ensure_ascii=False, sort_keys=True, default=repr)
                dead.write(line.encode('utf-8') + b'\n')
            dead.flush()
            os.fsync(dead.fileno())
        self.dead += len(poison)

    def close(self):
        self.spool.close()


def limit_pool_wait(database):
    """Wait at most POOL_WAIT seconds for a PostgreSQL connection.

    psycopg's pool waits 30 s by default; while PostgreSQL is down every
    write would hang that long before the facts are spooled, and the
    screen pops and live states behind it with them."""
    connections = getattr(database, '_connpool', None)
    if connections is not None and hasattr(connections, 'timeout'):
        connections.timeout = POOL_WAIT


class Database:
    """The Tryton side of the bridge; every method runs in one worker thread.

    ``orm=True`` stores through ModelSQL.create/write record by record (the
    benchmark's baseline) instead of the set-based ingest."""

    def __init__(self, name, user=0, orm=False):
        from trytond.pool import Pool
        self.name = name
        self.user = user
        self.orm = orm
        self.pool = Pool(name)

    def _transaction(self, readonly=False, context=None):
        from trytond.transaction import Transaction
        transaction = Transaction().start(self.name, self.user,
            readonly=readonly, context=context)
        limit_pool_wait(transaction.database)
        return transaction

    def pbxs(self, code=None):
        "Connection settings of the active PBXs (or the one named)."
        with self._transaction(readonly=True):
            Pbx = self.pool.get('cc.pbx')
            domain = [('code', '=', code)] if code else []
            return [{
                    'database': self.name, 'create_date': p.create_date,
                    'id': p.id, 'code': p.code, 'host': p.ami_host,
                    'port': p.ami_port, 'username': p.ami_username,
                    'secret': p.ami_secret or '',
                    'inbound_contexts': p.get_inbound_contexts(),
                    } for p in Pbx.search(domain)]

    def wrapups(self):
        "{interface: seconds} of agents with their own wrap-up time."
        with self._transaction(readonly=True):
            Agent = self.pool.get('cc.agent')
            return {a.interface: a.wrapup_seconds for a in Agent.search(
                    [('wrapup_seconds', '!=', None)])}

    def store(self, pbx_id, calls, intervals, live_states=()):
        context = {'cc_ingest_orm': True} if self.orm else None
        with self._transaction(context=context) as transaction:
            pool = self.pool
            if intervals:
                pool.get('cc.agent.state').ingest_intervals(intervals)
            if calls:
                pool.get('cc.call').ingest_facts(calls, pbx=pbx_id)
            if live_states:
                pool.get('cc.agent').update_live_states(live_states)
            transaction.commit()

    def report_status(self, pbx_id, status, last_event, message=None,
            dead_letters=None):
        """``dead_letters``: (count, path) of the facts set aside, shown in
        the status message."""
        from trytond.i18n import gettext
        with self._transaction() as transaction:
            if dead_letters and dead_letters[0]:
                count, path = dead_letters
                dead = gettext('cc_telephony.msg_bridge_dead_letters',
                    count=count, path=path)
                message = f'{message}\n{dead}' if message else dead
            self.pool.get('cc.pbx').report_status(
                pbx_id, status, last_event, message)
            transaction.commit()


class PbxLink:
    """One PBX: AMI client → tracker → fact sink, flushed periodically.

    The tracker's clock is the PBX's event timestamps; between events it is
    advanced by wall time × ``clock_speed`` so wrap-ups end and late Cdrs
    are given up on even when the PBX is quiet (a simulator may run faster
    than real time: pass its speed)."""

    def __init__(self, settings, database, executor, spool_dir,
            clock_speed=1.0, wrapups=None, checkpoint_interval=1.0):
        self.settings = settings
        self.database = database
        self.executor = executor
        self.clock_speed = clock_speed
        self.wrapups = wrapups or {}
        self.tracker = Tracker(self._on_fact,
            inbound_contexts=settings['inbound_contexts'] or (
                'from-pstn', 'from-trunk'),
            wrapup_seconds=lambda interface: self.wrapups.get(interface))
        self.identity = incarnation(settings)
        base = file_base(spool_dir, settings.get('database'), settings['code'])
        self.state_path = f'{base}.state'
        self._set_aside_unowned(spool_dir, base)
        self.sink = FactSink(self._store_facts, f'{base}.spool')
        if self.tracker.load_state(self.state_path, self.identity):
            logger.info('PBX %s: %d calls in progress taken over from %s',
                settings['code'], len(self.tracker.calls), self.state_path)
        self.checkpoint_interval = checkpoint_interval
        self._checkpoint_at = time.monotonic()
        self.client = AMIClient(settings['host'], settings['port'],
            settings['username'], settings['secret'],
            on_event=self._on_event, on_resync=self._on_resync)
        self.last_event = self.tracker.now
        self._last_event_wall = time.monotonic()
        self._pushed = {}
        self._status_at = 0.0
        self._status = None
        self._dead_reported = 0
        self.pops = screenpop.PopQueue(self)
        self._held = None   # events that came during a resync
        self._held_from = 0     # the stream position of the first held
        self._connection = 0    # the AMI connection the events come from

    def _set_aside_unowned(self, spool_dir, base):
        """Move aside the files a link of this PBX and database must not
        take over: neither replayed here, nor deleted (see doc/index.rst).
        The state carries its own identity (Tracker.load_state)."""
        self._set_aside_code_only(spool_dir, base)
        claim_incarnation(f'{base}.owner', self.identity,
            f'PBX {self.settings["code"]}', [f'{base}.spool', f'{base}.dead'])

    def _set_aside_code_only(self, spool_dir, base):
        "Files of earlier versions, named after the PBX code alone."
        code = self.settings['code']
        for suffix in ('.state', '.spool', '.dead'):
            old = os.path.join(spool_dir, f'bridge-{code}{suffix}')
            if os.path.exists(old) and old != f'{base}{suffix}':
                log_set_aside(f'PBX {code}', old, set_aside(old), 'was '
                    'written by an earlier version of the bridge, named after '
                    'the PBX code alone: its database cannot be told')

    def _store_facts(self, calls, intervals):
        # The live states ride along with the first batch written; a batch
        # that fails (even one then bisected) has not written them.
        pushed = dict(self._pushed)
        try:
            self.database.store(self.settings['id'], calls, intervals,
                self._live_changes())
        except Exception:
            self._pushed = pushed
            raise

    def _on_fact(self, kind, data):
        self.sink.add(kind, data)

    def _note_connection(self):
        """On the first sign of a new AMI connection (an event, or the
        resync), tell the tracker its stream was cut: the PBX was last
        heard before it (or before the stop of the process whose state was
        taken over), which bounds the unseen ends found at the resync."""
        if self._connection != self.client.connections:
            self._connection = self.client.connections
            self.tracker.cut()

    def _on_event(self, event):
        self._note_connection()
        if self._held is not None:
            # Applied after the resync's snapshot, which may be older.
            self._held.append(event)
            return
        self._feed(event)

    def _feed(self, event):
        if 'Timestamp' not in event:
            # timestampevents=yes is required; without it times are unknown.
            event = dict(event, Timestamp=str(time.time()))
        self.tracker.feed(event)
        screenpop.on_bridge_event(self, event)
        self.last_event = self.tracker.now
        self._last_event_wall = time.monotonic()

    async def _on_resync(self, client):
        """Rebuild the tracker from CoreShowChannels and QueueStatus.

        Events keep coming while both lists are on their way, and each list
        is a snapshot of the moment its answer sits in the event stream.
        Events are held and released in stream order around each snapshot:
        an older snapshot applied after newer events would undo them (a
        call answered meanwhile reaped as hung up, an agent freed meanwhile
        set busy again), and older events applied after a newer snapshot
        would be lost (a hang-up after its channel was reaped).

        A PBX restarted during the cut (CoreStatus) took every channel
        followed with it: they are all ended, none is looked for among
        the live channels of the new process."""
        self._note_connection()
        self._held, self._held_from = [], client.events_dispatched
        try:
            if await self._pbx_restarted(client):
                self.tracker.end_all_unseen()
            else:
                await self._reap(client)
            status = await client.action('QueueStatus')
            self._release(status.events_before)
            self.tracker.resync(status.events,
                now=self.tracker.now or utcnow())
            logger.info('PBX %s: resynchronised from QueueStatus (%d events)',
                self.settings['code'], len(status.events))
        finally:
            held, self._held = self._held, None
            for event in held:
                self._feed(event)

    async def _pbx_restarted(self, client):
        "Whether CoreStatus reports another PBX start than the one known."
        core = await self._ask(client, 'CoreStatus')
        if core is None:
            return False
        started = ' '.join(filter(None, (core.get('CoreStartupDate'),
                    core.get('CoreStartupTime')))) or None
        return self.tracker.pbx_restarted(started)

    async def _reap(self, client):
        "End the channels that hung up during the cut (see Tracker.reap)."
        channels = await self._ask(client, 'CoreShowChannels')
        if channels is not None:
            self._release(channels.events_before)
            self.tracker.reap(channel_uniqueids(channels.events))

    @staticmethod
    async def _ask(client, action):
        "The answer to ``action``, or None when the PBX refuses it."
        try:
            return await client.action(action)
        except AMIError as error:
            logger.warning('%s refused: %s', action, error)
            return None

    def _release(self, events_before):
        "Feed the held events that came before a snapshot in the stream."
        count = events_before - self._held_from
        ready, self._held = self._held[:count], self._held[count:]
        self._held_from = events_before
        for event in ready:
            self._feed(event)

    @staticmethod
    def _live(agent):
        "What the database shows live of a tracker's agent."
        return (agent.state, agent.reason, agent.start,
            agent.transferred_call)

    def _live_changes(self):
        "Agents whose live state changed since the last successful write."
        changes = []
        for interface, agent in self.tracker.agents.items():
            live = self._live(agent)
            pushed = self._pushed.get(interface)
            if pushed != live:
                change = {'interface': interface, 'state': agent.state,
                    'reason': agent.reason, 'since': agent.start}
                # Told once: sent again with a later state change, it would
                # bring back a wrap-up the agent has done meanwhile.
                if pushed is None or pushed[3] != agent.transferred_call:
                    change['transferred_call'] = agent.transferred_call
                changes.append(change)
                self._pushed[interface] = live
        return changes

    def tick(self):
        if self.last_event is None:
            return
        elapsed = (time.monotonic() - self._last_event_wall) * (
            self.clock_speed)
        self.tracker.tick(self.last_event + dt.timedelta(seconds=elapsed))

    async def flush(self):
        "Write pending facts (spool first) and changed live agent states."
        self.tick()
        loop = asyncio.get_running_loop()
        pushed = dict(self._pushed)
        ok = True
        if self.sink.pending or self.sink.backlog:
            # The live states ride along with the first batch written.
            ok = await loop.run_in_executor(self.executor, self.sink.flush)
        if ok and self._live_pending():
            ok = await loop.run_in_executor(self.executor, self._store_live)
        if not ok:
            # The live states were not written: send them again next time.
            self._pushed = pushed
        if time.monotonic() - self._checkpoint_at >= self.checkpoint_interval:
            self.checkpoint()
        await self._report(ok)

    def checkpoint(self):
        """Save the tracker's state for a successor (see Tracker.save_state)
        when every fact it emitted is stored or spooled: a fact still in
        memory would be lost with a killed process and never emitted
        again by the successor, which starts from the state saved."""
        if self.sink.pending:
            return
        try:
            self.tracker.save_state(self.state_path, self.identity)
        except OSError as error:
            logger.warning('tracker state not saved: %s', error)
        self._checkpoint_at = time.monotonic()

    def _live_pending(self):
        return any(self._pushed.get(i) != self._live(a)
            for i, a in self.tracker.agents.items())

    def _store_live(self):
        try:
            self.database.store(
                self.settings['id'], [], [], self._live_changes())
        except Exception as error:
            logger.warning('live agent states not stored: %s', error)
            return False
        return True

    async def _report(self, database_ok):
        connected = self.client.connected.is_set()
        status = 'connected' if connected else 'disconnected'
        now = time.monotonic()
        dead = self.sink.dead
        if not database_ok or (status == self._status
                and dead == self._dead_reported
                and now - self._status_at < STATUS_EVERY):
            return
        self._status, self._status_at = status, now
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.executor, functools.partial(
                    self.database.report_status, self.settings['id'], status,
                    self.last_event,
                    dead_letters=(dead, self.sink.dead_path)))
            self._dead_reported = dead
        except Exception as error:
            logger.warning('PBX status not stored: %s', error)


async def run(database, pbx_code, spool_dir, flush_interval, clock_speed,
        checkpoint_interval=1.0):
    executor = concurrent.futures.ThreadPoolExecutor(
        1, thread_name_prefix='cc-bridge-db')
    loop = asyncio.get_running_loop()
    settings = await loop.run_in_executor(executor, database.pbxs, pbx_code)
    if not settings:
        raise SystemExit('no active PBX (cc.pbx) to connect to')
    wrapups = await loop.run_in_executor(executor, database.wrapups)
    os.makedirs(spool_dir, exist_ok=True)
    links = [PbxLink(s, database, executor, spool_dir, clock_speed, wrapups,
            checkpoint_interval) for s in settings]
    for link in links:
        logger.info('PBX %s: AMI %s:%s', link.settings['code'],
            link.settings['host'], link.settings['port'])
        link.client.start()
    try:
        while True:
            await asyncio.sleep(flush_interval)
            for link in links:
                await link.flush()
    finally:
        for link in links:
            await link.client.close()
            link.tracker.flush()
            await loop.run_in_executor(executor, link.sink.flush)
            # The calls in progress go on in the next process.
            link.checkpoint()
            link.sink.close()


def parse_arguments(argv=None):
    parser = argument_parser('python -m trytond.modules.cc_telephony.bridge',
        'AMI bridge of the contact center: records calls and agent states '
        'of every active PBX (cc.pbx) in the database.')
    parser.add_argument('--pbx', default=None,
        help='code of the only cc.pbx to follow (default: every active one)')
    parser.add_argument('--spool-dir', default=os.path.join('var', 'spool'),
        help='where facts wait while the database is unavailable '
        '(default: var/spool)')
    parser.add_argument('--flush-interval', type=float, default=0.5,
        help='seconds between two writes to the database')
    parser.add_argument('--checkpoint-interval', type=float, default=1.0,
        help='seconds between two saves of the calls in progress, which a '
        'restarted bridge takes over (it is saved on a clean stop too)')
    parser.add_argument('--clock-speed', type=float, default=1.0,
        help='PBX seconds per real second (a simulator run with --speed)')
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    configure_logging(arguments.verbose)
    init_pool(arguments.config, arguments.database)
    database = Database(arguments.database)
    asyncio.run(run_until_signalled(run(database, arguments.pbx,
                arguments.spool_dir, arguments.flush_interval,
                arguments.clock_speed, arguments.checkpoint_interval)))


if __name__ == '__main__':
    main()
