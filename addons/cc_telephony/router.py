"""Router service: Asterisk's dialplan asks it, over FastAGI, where a call
goes, and it answers with channel variables (see routing.py for them).

    python -m trytond.modules.cc_telephony.router -c trytond.conf -d DB

Per call it reads, in one plain SQL statement (lookup.py), the caller
(what cc.caller identify says), the caller's last agent and the agents'
live states; the rest of the snapshot (queues, services, agent skills, the
PBX's policy) changes only with configuration and is cached for
``--cache-seconds``. The answer goes to Asterisk first; the decision is then
stored on the call (cc.call) in batches by a writer child process (or
thread), so neither the database's write lock nor the ORM's Python time
delays a caller. If the database cannot be read the router still answers:
the caller is queued in the default queue and CC_REASON says
``router_error``.
"""
import asyncio
import concurrent.futures
import datetime as dt
import functools
import gc
import logging
import multiprocessing
import os
import queue as queue_module
import signal
import sys
import threading
import time

from . import fastagi, ivr, routing
from .bridge import (
    FactSink, claim_incarnation, file_base, incarnation, limit_pool_wait)
from .lookup import Lookup
from .service import (
    argument_parser, configure_logging, init_pool, run_until_signalled)

logger = logging.getLogger(__name__)

WRITE_BATCH = 200
SWITCH_INTERVAL = 0.0005
WRITER_NICE = 10
# Seconds the writer lets a decision wait before storing it, so that the
# storing (the writer's Python and its database backend, some 10 ms of
# CPU) comes after the call's AGI conversation has closed rather than
# competing with its last steps.
WRITE_LINGER = 0.1
# Where decisions wait while the database is unavailable (--spool-dir).
SPOOL_DIR = os.path.join('var', 'spool')
# Seconds between two attempts to replay the spool when no decision comes.
RETRY_SECONDS = 1.0
# Seconds between two checks that the writer child is alive.
WATCH_SECONDS = 1.0
# Seconds the deciding threads wait for each other at start (warm_up).
WARM_UP_SECONDS = 30


def utcnow():
    "Naive UTC, Tryton's convention for DateTime fields."
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# The refresher reloads a little before the snapshot gets stale, so that
# no call ever finds it stale.
REFRESH_SHARE = 0.8
# Reloaded even when the stamp did not change: the agents' names come from
# employees and users, and tiers and calendars from Tryton caches, whose
# changes the stamp does not see.
FULL_RELOAD_SECONDS = 300
# The models the snapshot is built from (see Snapshot._load).
CONFIGURATION_MODELS = ('cc.configuration', 'cc.customer.tier', 'cc.pbx',
    'cc.queue', 'cc.queue.skill', 'cc.queue.member', 'cc.dnis', 'cc.skill',
    'cc.agent.skill', 'cc.calendar', 'cc.calendar.line', 'cc.calendar.day',
    'cc.announcement', 'cc.announcement-cc.dnis', 'cc.announcement-cc.queue')
# The bridge rewrites an agent's row at every state change, so agents are
# compared on the columns the snapshot takes from them.
AGENT_COLUMNS = ('id', 'interface', 'active', 'employee', 'user')


def configuration_stamp(pool):
    """A value that changes whenever the routing configuration does: per
    model its number of rows, highest id and latest change, and the agents'
    configuration columns."""
    from trytond.transaction import Transaction
    models, agents = stamp_queries(pool)
    cursor = Transaction().connection.cursor()
    cursor.execute(*models)
    per_model = sorted(cursor)
    cursor.execute(*agents)
    return per_model, cursor.fetchall()


@functools.lru_cache(maxsize=None)
def stamp_queries(pool):
    "The stamp's two statements, built once: building costs more than running."
    from sql import Literal, Union
    from sql.aggregate import Count, Max
    from sql.conditionals import Coalesce
    selects = []
    for name in CONFIGURATION_MODELS:
        table = pool.get(name).__table__()
        selects.append(table.select(Literal(name), Count(), Max(table.id),
                Max(Coalesce(table.write_date, table.create_date))))
    agent = pool.get('cc.agent').__table__()
    return (tuple(Union(*selects, all_=True)),
        tuple(agent.select(*(getattr(agent, c) for c in AGENT_COLUMNS),
                order_by=agent.id)))


class Snapshot:
    "The configuration part of a routing request, reloaded when stale."

    def __init__(self, max_age):
        self.max_age = max_age
        self.loaded_at = self.reloaded_at = None
        self.values = None
        self.stamp = None
        self._lock = threading.Lock()
        self._reloading = False
        self._refresher = None
        self._stop_refresh = threading.Event()

    def get(self, pool, pbx_code, database=None, user=0):
        """The snapshot, reloaded when older than ``max_age``.

        Inside a transaction (tests, RPC) it is reloaded there and then.
        Otherwise (the router service) the first load opens a read-only
        transaction of ``database``; later ones happen in the background
        while calls keep the previous snapshot: a reload takes far longer
        than a decision and would stall every call waiting for it."""
        from trytond.transaction import Transaction
        if self.max_age <= 0 and database and (
                Transaction().database is None):
            # No cache at all (the benchmark's baseline): each call reads
            # the configuration itself, outside the lock.
            return self._load_in(database, user, pool, pbx_code)
        with self._lock:
            stale = (self.values is None
                or time.monotonic() - self.loaded_at > self.max_age)
            if not stale:
                return self.values
            if Transaction().database is not None or not database:
                self._set(self._load(pool, pbx_code))
            elif self.values is None:
                self._set(self._load_in(database, user, pool, pbx_code))
            elif not self._reloading and self._refresher is None:
                self._reloading = True
                threading.Thread(target=self._reload, daemon=True,
                    args=(database, user, pool, pbx_code)).start()
            return self.values

    def keep_fresh(self, database, user, pool, pbx_code):
        """Reload every ``max_age`` from a thread of its own instead of
        when a call finds the snapshot stale: a reload holds the GIL far
        longer than a decision, and started that way it ran exactly while
        that call was being decided (at a call every few seconds, one call
        in two paid for it)."""
        if self.max_age <= 0 or self._refresher is not None:
            return

        def refresh():
            while not self._stop_refresh.wait(self.max_age * REFRESH_SHARE):
                with self._lock:
                    if self._reloading:
                        continue
                    self._reloading = True
                self._refresh(database, user, pool, pbx_code)
        self._refresher = threading.Thread(target=refresh, daemon=True,
            name='cc-router-snapshot')
        self._refresher.start()

    def stop_refreshing(self):
        self._stop_refresh.set()

    def _set(self, values):
        self.values, self.loaded_at = values, time.monotonic()
        self.reloaded_at = self.loaded_at

    def _load_in(self, database, user, pool, pbx_code):
        from trytond.transaction import Transaction
        with Transaction().start(database, user, readonly=True):
            stamp = configuration_stamp(pool)
            values = self._load(pool, pbx_code)
        self.stamp = stamp
        return values

    def _check_in(self, database, user, pool):
        "The configuration's stamp and the queues' live figures."
        from trytond.transaction import Transaction
        with Transaction().start(database, user, readonly=True):
            return configuration_stamp(pool), live_figures(pool)

    def _refresh(self, database, user, pool, pbx_code):
        """Reload if the configuration changed, or at least every
        ``FULL_RELOAD_SECONDS``; otherwise only the service levels are
        renewed and the snapshot declared fresh. A reload holds the GIL
        some 25 ms (the ORM builds queues, calendars and agent profiles)
        and a call that arrives meanwhile waits for it; the stamp and the
        service levels are two small queries."""
        try:
            due = (self.stamp is None or time.monotonic() - self.reloaded_at
                > FULL_RELOAD_SECONDS)
            if not due:
                stamp, figures = self._check_in(database, user, pool)
                due = stamp != self.stamp
            if due:
                self._reload(database, user, pool, pbx_code)
                return
            with self._lock:
                self.values = dict(self.values, **figures)
                self.loaded_at = time.monotonic()
        except Exception:
            logger.exception('routing configuration not checked')
        finally:
            self._reloading = False

    def _reload(self, database, user, pool, pbx_code):
        try:
            values = self._load_in(database, user, pool, pbx_code)
            with self._lock:
                self._set(values)
        except Exception:
            logger.exception('routing configuration not reloaded')
        finally:
            self._reloading = False

    @staticmethod
    def _load(pool, pbx_code):
        Pbx = pool.get('cc.pbx')
        Tier = pool.get('cc.customer.tier')
        domain = [('code', '=', pbx_code)] if pbx_code else []
        pbxs = Pbx.search(domain, limit=1)
        return {
            'caller_options': pool.get('cc.configuration').caller_options(),
            'tiers': {i: (t['routing_priority'], t['vip'])
                for i, t in Tier.summaries().items()},
            'pbx': pbxs[0].id if pbxs else None,
            'policy': (pbxs[0].routing_policy() if pbxs
                else routing.Policy()),
            'queues': pool.get('cc.queue').routing_snapshot(),
            'services': pool.get('cc.dnis').routing_snapshot(),
            'profiles': pool.get('cc.agent').routing_profiles(),
            'announcements': pool.get('cc.announcement').routing_snapshot(),
            **live_figures(pool),
            }


def live_figures(pool):
    """What the snapshot renews at each check: the service levels queues
    overflow on (TEL-54) and the loads the expected wait is estimated from
    (TEL-50), as of now."""
    Queue = pool.get('cc.queue')
    now = utcnow()
    return {'service_levels': Queue.recent_service_levels(now),
        'queue_loads': Queue.recent_loads(now)}


def call_info(env):
    "Caller number, dialled number and unique id from the AGI environment."
    caller = env.get('agi_callerid', '')
    if caller in ('unknown', ''):
        caller = ''
    # In the trunk's context the extension is the number the caller dialled;
    # a dialplan may also pass it explicitly: AGI(agi://…/route,${DID}).
    dnis = (env.get('agi_arg_1') or env.get('agi_extension')
        or env.get('agi_dnid') or '')
    return {
        'uniqueid': env.get('agi_uniqueid', ''),
        'caller_raw': caller,
        'dnis': '' if dnis == 'unknown' else dnis,
        }


class Router:
    """Decide for one call at a time; safe to use from many threads."""

    def __init__(self, database, user=0, pbx_code=None, cache_seconds=5.0):
        from trytond.pool import Pool
        self.database = database
        self.user = user
        self.pbx_code = pbx_code
        self.snapshot = Snapshot(cache_seconds)
        self.pool = Pool(database)
        self.decisions = queue_module.Queue()
        self.lookup = Lookup(database)
        self._agents = None
        self._writer = None

    def static(self):
        return self.snapshot.get(
            self.pool, self.pbx_code, self.database, self.user)

    def request(self, info, now):
        "Build the routing request of a call (see lookup.py)."
        static = self.static()
        policy = static['policy']
        since = (now - dt.timedelta(days=policy.affinity_days)
            if policy.affinity_days > 0 else None)
        caller, last, states = self.lookup.call_reads(info['caller_raw'],
            static['caller_options'], static['tiers'], now, since)
        return routing.Request(caller=caller, dnis=info['dnis'], now=now,
            queues=static['queues'], services=static['services'],
            agents=self.agents(static['profiles'], states),
            last_agent=last[0] if last else None,
            last_agent_at=last[1] if last else None, policy=policy,
            announcements=static['announcements'],
            service_levels=static['service_levels'],
            queue_loads=static['queue_loads'])

    def agents(self, profiles, states):
        """routing.Agent of every agent profile in its live state; reused
        while neither changed (states change far less often than calls
        arrive, and a centre may have hundreds of agents)."""
        built = self._agents
        if built is None or built[0] is not profiles or built[1] != states:
            agents = []
            for interface, (name, skills, queues) in profiles.items():
                state, since = states.get(interface, ('logged_out', None))
                agents.append(routing.Agent(interface, state, skills=skills,
                        queues=queues, state_since=since, name=name))
            built = self._agents = (profiles, states, tuple(agents))
        return built[2]

    def warm_up(self, executor, threads):
        """Before the first call: the caller indexes in the database's
        buffers (Lookup.warm_up), and on every deciding thread its
        connection opened and its statement prepared, by a decision for an
        unknown caller (opening a connection costs a call 5 to 10 ms).
        Failures are logged: calls are answered anyway."""
        try:
            self.lookup.warm_up()
        except Exception:
            logger.exception('caller indexes not warmed up')
            self.lookup.reset()
        # The barrier keeps each warm-up on a thread of its own.
        barrier = threading.Barrier(threads)

        def connect():
            barrier.wait(WARM_UP_SECONDS)
            self.decide({'uniqueid': '', 'caller_raw': '', 'dnis': ''})
        futures = [executor.submit(connect) for _ in range(threads)]
        errors = [f.exception() for f in futures if f.exception()]
        if errors:
            logger.warning('%d of %d router threads not warmed up: %r',
                len(errors), threads, errors[0])

    def decide(self, info, now=None):
        "The Decision for a call."
        now = now or utcnow()
        try:
            request = self.request(info, now)
        except Exception:
            # A broken connection is replaced at the next call.
            self.lookup.reset()
            raise
        return routing.decide(request)

    def fallback(self, error):
        "An answer when the database cannot be read: queue, and say why."
        static = self.snapshot.values or {}
        policy = static.get('policy') or routing.Policy()
        decision = routing.Decision(queue=policy.default_queue)
        decision.because('router_error', 'router_error', error=str(error))
        # The default queue's wait limit, as far as the last snapshot knows.
        routing.set_wait_limit(static.get('queues') or {}, utcnow(),
            decision)
        return decision

    def record(self, info, decision, routed_at):
        "Queue the decision for the writer thread."
        self.decisions.put(
            dict(info, routed_at=routed_at, **decision.as_dict()))

    def start_writer(self, process=False, config_file=None, spool_dir=None):
        """Store the decisions from a thread or, with ``process``, from a
        child process, through a DecisionSink whose files are in
        ``spool_dir`` (default SPOOL_DIR).

        Storing a decision through the ORM costs 3 to 20 ms of Python, far
        more than deciding; in a thread of the router it holds the GIL
        meanwhile, and every call being decided waits for it (up to the
        5 ms switch interval at each database reply and each AGI line).
        A child process has its own GIL, so storing never delays a caller.
        The thread remains for databases a second process cannot open
        (SQLite ``:memory:`` in tests). A child that dies (killed, a
        crash) is replaced by another (``_watch_writer``)."""
        if spool_dir is not None:
            self.spool_dir = spool_dir
        if process:
            self._writer_config = config_file
            self._writer_lock = threading.Lock()
            self._writer_stopped = threading.Event()
            self._start_writer_process()
            threading.Thread(target=self._watch_writer, daemon=True,
                name='cc-router-writer-watch').start()
        else:
            self._writer = threading.Thread(target=self._write_loop,
                args=(self.decisions,), name='cc-router-writer',
                daemon=True)
            self._writer.start()

    def _start_writer_process(self):
        context = multiprocessing.get_context('spawn')
        self.decisions = context.Queue()
        self._writer = context.Process(target=write_process,
            args=(self._writer_config, self.database, self.user,
                self.pbx_code, self.snapshot.max_age, self.decisions,
                getattr(self, 'spool_dir', None)),
            name='cc-router-writer')
        self._writer.start()

    def _watch_writer(self):
        "Replace the writer child when it dies, until stop_writer."
        while not self._writer_stopped.wait(WATCH_SECONDS):
            with self._writer_lock:
                if not self._writer_stopped.is_set():
                    self._replace_dead_writer()

    def _replace_dead_writer(self):
        """Start a new writer child if the running one died, and hand it
        what the dead one had not taken from its queue, when that can still
        be read (not when the child died while reading it: the queue's read
        lock then stays taken). What the dead child had taken is in the
        spool already (DecisionSink.flush), and the new child replays it."""
        if self._writer.is_alive():
            return
        logger.error('routing decision writer ended (exit code %s): '
            'starting another', self._writer.exitcode)
        old = self.decisions
        self._start_writer_process()
        moved = 0
        while True:
            try:
                decision = old.get(timeout=0.2)
            except Exception:
                break
            if decision is not None:
                self.decisions.put(decision)
                moved += 1
        old.cancel_join_thread()
        old.close()
        logger.warning('%d queued routing decisions handed to the new '
            'writer', moved)

    def writer_files(self):
        """(spool, dead letters) of the decision writer: ``router-<pbx
        code>@<database>.spool`` and ``.dead`` in the spool directory,
        named as the bridge names its files (bridge.file_base), and like
        them owned by one incarnation of the database (``.owner``)."""
        base = file_base(getattr(self, 'spool_dir', None) or SPOOL_DIR,
            getattr(self, 'database', None), getattr(self, 'pbx_code', None),
            service='router')
        return f'{base}.spool', f'{base}.dead'

    def _write_loop(self, decisions, alive=None):
        """Store the queued decisions through a DecisionSink (spooled while
        the database is unavailable, replayed in order, refused ones
        bisected out to the dead letters) until the None that stop_writer
        queues after the last decision, or until the router is gone."""
        spool_path, dead_path = self.writer_files()
        os.makedirs(os.path.dirname(spool_path) or '.', exist_ok=True)
        sink = DecisionSink(self.write, spool_path, dead_path,
            self.incarnation)
        sink.claim()
        reported = sink.dead
        if reported:
            logger.warning('%d routing decisions refused by the database '
                'are in %s', reported, dead_path)
        behind = sink.backlog > 0
        stopping = False
        try:
            while not stopping:
                # While the spool holds decisions it is replayed every
                # RETRY_SECONDS, even when no new decision comes.
                batch = self._next_batch(decisions, alive,
                    wait=RETRY_SECONDS if behind else None,
                    linger=WRITE_LINGER)
                if batch is None:
                    break
                # None, queued by stop_writer, comes after every decision.
                stopping = None in batch
                for decision in batch:
                    if decision is not None:
                        sink.add('decision', decision)
                if not (sink.pending or behind):
                    continue
                try:
                    behind = not sink.flush()
                except Exception:
                    # The spool could not be written (disk full): the
                    # decisions stay pending, tried again with the next.
                    logger.exception('routing decisions not spooled')
                    behind = True
                if sink.dead > reported:
                    reported = sink.dead
                    logger.warning('%d routing decisions refused by the '
                        'database so far: written to %s', reported,
                        dead_path)
            if sink.pending:
                logger.error('%d routing decisions neither stored nor '
                    'spooled at shutdown', len(sink.pending))
        finally:
            if sink.backlog:
                logger.warning('%d routing decisions left in %s, stored '
                    'at the next start', sink.backlog, spool_path)
            sink.close()

    @staticmethod
    def _next_batch(decisions, alive=None, wait=None, linger=0):
        """The next decisions to store: the first to come and those queued
        behind it, up to WRITE_BATCH (at a busy hour they queue while the
        previous batch is written: one transaction for many). None when
        ``alive()`` turns false while nothing comes (the router process is
        gone); [] when nothing comes within ``wait`` seconds. The batch is
        taken ``linger`` seconds after its first decision came."""
        while True:
            try:
                batch = [decisions.get(
                        timeout=1.0 if wait is None else wait)]
                break
            except queue_module.Empty:
                if alive is not None and not alive():
                    return None
                if wait is not None:
                    return []
        if linger and batch[-1] is not None:
            time.sleep(linger)
        while len(batch) < WRITE_BATCH and batch[-1] is not None:
            try:
                batch.append(decisions.get_nowait())
            except queue_module.Empty:
                break
        return batch

    def stop_writer(self, timeout=10.0):
        """Have the writer store or spool the decisions still queued, then
        end it. It makes one attempt at the database and spools what that
        does not store, so it ends soon even while the database is down;
        it is waited for beyond ``timeout`` (with a warning) rather than
        cut short, which would drop the decisions it holds."""
        if self._writer is None:
            return
        if isinstance(self._writer, multiprocessing.Process):
            with self._writer_lock:
                self._writer_stopped.set()
                self._replace_dead_writer()
        self.decisions.put(None)
        self._writer.join(timeout)
        if self._writer.is_alive():
            logger.warning('routing decisions still being stored after '
                '%s s: waiting for the writer', timeout)
            self._writer.join()

    def incarnation(self):
        """The incarnation of the database the decisions are stored in,
        told as the bridge tells it (bridge.incarnation); raises while the
        database cannot be read."""
        from trytond.transaction import Transaction
        with Transaction().start(self.database, self.user,
                readonly=True) as transaction:
            limit_pool_wait(transaction.database)
            Pbx = self.pool.get('cc.pbx')
            domain = [('code', '=', self.pbx_code)] if self.pbx_code else []
            pbx = next(iter(Pbx.search(domain, limit=1)), None)
            return incarnation({'database': self.database,
                    'id': pbx and pbx.id,
                    'create_date': pbx and pbx.create_date})

    def write(self, batch):
        """Store decisions in one transaction; raise when that fails (the
        writer's DecisionSink tells an unavailable database from a refused
        decision)."""
        from trytond.transaction import Transaction
        with Transaction().start(self.database, self.user) as transaction:
            # Wait 2 s at most for a PostgreSQL connection, as the bridge.
            limit_pool_wait(transaction.database)
            Call = self.pool.get('cc.call')
            Call.record_decisions(batch, pbx=self.static()['pbx'])


class DecisionSink(FactSink):
    """The bridge's FactSink for routing decisions, write-ahead: each
    decision is spooled (fsync) as soon as the writer takes it from its
    queue, then the spool is replayed in order. A writer killed at any
    moment therefore loses nothing it had taken (the next one replays it;
    ``cc.call.record_decisions`` stores a decision twice harmlessly).
    ``store(decisions)`` stores one list in one transaction.

    The files belong to one incarnation of the database, as the bridge's:
    nothing is replayed before ``identity()`` (the incarnation, raising
    while the database cannot be read) has claimed them, and what another
    incarnation left is set aside, never replayed into this one."""

    def __init__(self, store, spool_path, dead_path, identity):
        super().__init__(store, spool_path, dead_path)
        self.identity = identity
        self.owned = False

    def claim(self):
        """Make the files this incarnation's (bridge.claim_incarnation);
        False while its identity cannot be read. The decisions spooled
        while it cannot (by this writer, or an earlier one that could not
        either) go to the first incarnation read (Spool.defer_claim):
        decided while the database was down, they most likely belong to
        the one that comes back."""
        if self.owned:
            return True
        try:
            identity = self.identity()
        except Exception as error:
            logger.warning('routing decisions not replayed: the database\'s '
                'incarnation cannot be read (%s)', error)
            self.spool.defer_claim()
            return False
        claim_incarnation(os.path.splitext(self.spool.path)[0] + '.owner',
            identity, 'router', [self.dead_path], [self.spool],
            records='routing decisions')
        self.dead = self._count_dead()
        self.owned = True
        return True

    def _store(self, items):
        self.store([data for kind, data in items])

    def flush(self):
        "Spool what is pending, then replay; True when all is stored."
        self._to_spool(self.pending)
        self.pending = []
        return self.claim() and self._replay()

    def close(self):
        "Close; an empty spool is removed (nothing is waiting)."
        super().close()
        if os.path.exists(self.spool.path) and not os.path.getsize(
                self.spool.path):
            os.remove(self.spool.path)


def write_process(config_file, database, user, pbx_code, cache_seconds,
        decisions, spool_dir=None):
    "The writer child process (Router.start_writer)."
    # The router stops it with the queued None, after the last decision;
    # a signal sent to the whole process group must not cut that short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Storing can wait; deciding cannot. When the CPUs are busy the kernel
    # should run the router first.
    os.nice(WRITER_NICE)
    configure_logging()
    init_pool(config_file, database)
    router = Router(database, user, pbx_code, cache_seconds)
    router.spool_dir = spool_dir
    parent = multiprocessing.parent_process()
    router._write_loop(decisions, alive=parent.is_alive if parent else None)


async def handle(router, executor, env, agi, combined=True):
    """FastAGI handler: decide, answer with channel variables (``combined``:
    in one ARRAY() command, else one command each), then record. The
    script ``ivr`` or ``ivr/<menu code>`` runs the IVR's menus first
    (ivr.handle_ivr); any other (``route``) is answered at once."""
    if ivr.is_ivr_script(env.get('agi_network_script', '')):
        await ivr.handle_ivr(router, executor, env, agi, combined)
        return
    info = call_info(env)
    now = utcnow()
    loop = asyncio.get_running_loop()
    try:
        decision = await loop.run_in_executor(
            executor, router.decide, info, now)
    except Exception as error:
        logger.exception('routing %s failed', info['uniqueid'])
        decision = router.fallback(type(error).__name__)
    await agi.set_variables(decision.variables(), combined=combined)
    logger.debug('%s from %r to %r: %s', info['uniqueid'], info['caller_raw'],
        info['dnis'], ' '.join(decision.explanation))
    if info['uniqueid']:
        router.record(info, decision, now)


def parse_arguments(argv=None):
    parser = argument_parser('python -m trytond.modules.cc_telephony.router',
        'FastAGI router of the contact center: answers '
        'AGI(agi://host:port/route) with CC_* channel variables.')
    parser.add_argument('--pbx', dest='pbx', default=None,
        help='code of the cc.pbx whose routing policy and FastAGI address '
        'apply (default: the first active one)')
    parser.add_argument('--listen', dest='listen', default=None,
        help='host:port to listen on (default: the PBX\'s FastAGI address, '
        'else 127.0.0.1:4573)')
    parser.add_argument('--cache-seconds', type=float, default=5.0,
        help='how long queue, service and skill configuration is cached')
    parser.add_argument('--threads', type=int, default=16,
        help='database threads deciding in parallel')
    parser.add_argument('--writer', choices=['process', 'thread'],
        default='process',
        help='store decisions from a child process (default: it keeps the '
        'ORM off the deciding process) or from a thread')
    parser.add_argument('--spool-dir', default=SPOOL_DIR,
        help='where decisions wait while the database is unavailable, '
        'and the decisions it refuses (router-<pbx>@<database>.spool and '
        '.dead; default: var/spool)')
    parser.add_argument('--answer', choices=['array', 'variables'],
        default='array',
        help='answer with one ARRAY() assignment for all the variables '
        '(default: one AGI round trip instead of nine or ten), or with '
        'one SET VARIABLE per variable (for a PBX without func_strings\' '
        'ARRAY(), or a dialplan that wants each VarSet on its own command)')
    return parser.parse_args(argv)


def listen_address(router, listen):
    if listen:
        host, _, port = listen.rpartition(':')
        return host or '127.0.0.1', int(port)
    from trytond.transaction import Transaction
    with Transaction().start(router.database, router.user, readonly=True):
        Pbx = router.pool.get('cc.pbx')
        domain = [('code', '=', router.pbx_code)] if router.pbx_code else []
        pbxs = Pbx.search(domain, limit=1)
        if pbxs:
            return pbxs[0].agi_host, pbxs[0].agi_port
    return '127.0.0.1', 4573


async def serve(router, host, port, threads, writer='thread',
        config_file=None, answer='array', spool_dir=None):
    executor = concurrent.futures.ThreadPoolExecutor(
        threads, thread_name_prefix='cc-router')
    router.start_writer(process=writer == 'process', config_file=config_file,
        spool_dir=spool_dir)
    try:
        router.static()
    except Exception:
        # The refresher and the first call try again; calls are answered
        # meanwhile (Router.fallback).
        logger.exception('routing configuration not loaded at start')
    router.snapshot.keep_fresh(
        router.database, router.user, router.pool, router.pbx_code)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, router.warm_up, executor, threads)
    # What exists now (the pool, the snapshot) lives as long as the
    # router; a full collection walking it took 40 to 60 ms, a pause any
    # call being answered would wait for.
    gc.freeze()
    server = await fastagi.serve(
        lambda env, agi: handle(router, executor, env, agi,
            combined=answer == 'array'), host, port)
    logger.info('router listening on %s:%s', host, port)
    async with server:
        try:
            await server.serve_forever()
        finally:
            # Calls still waiting for a decision are gone with the server;
            # deciding them would only delay the exit.
            executor.shutdown(wait=False, cancel_futures=True)
            router.snapshot.stop_refreshing()
            # The writer process may still be starting (a few seconds) and
            # then has the queued decisions to store.
            await loop.run_in_executor(None, router.stop_writer, 30.0)


def main(argv=None):
    arguments = parse_arguments(argv)
    configure_logging(arguments.verbose)
    # A thread that wants the GIL waits up to the switch interval (5 ms by
    # default) while another runs Python code; a decision takes the GIL back
    # at each database reply and the event loop at each AGI line, so with
    # several calls in flight each of those waits could cost up to 5 ms.
    sys.setswitchinterval(SWITCH_INTERVAL)
    init_pool(arguments.config, arguments.database)
    router = Router(arguments.database, pbx_code=arguments.pbx,
        cache_seconds=arguments.cache_seconds)
    host, port = listen_address(router, arguments.listen)
    asyncio.run(run_until_signalled(
            serve(router, host, port, arguments.threads, arguments.writer,
                arguments.config, arguments.answer, arguments.spool_dir)))


if __name__ == '__main__':
    main()
