"""Router service: Asterisk's dialplan asks it, over FastAGI, where a call
goes, and it answers with channel variables (see routing.py for them).

    python -m trytond.modules.cc_telephony.router -c trytond.conf -d DB

Per call it reads, in one read-only transaction, the caller (cc.caller
identify), the agents' live states and the caller's last agent; the rest of
the snapshot (queues, services, agent skills, the PBX's policy) changes only
with configuration and is cached for ``--cache-seconds``. The answer goes to
Asterisk first; the decision is then stored on the call (cc.call) by a
writer thread in batches, so the database's write lock never delays a
caller. If the database cannot be read the router still answers: the
caller is queued in the default queue and CC_REASON says ``router_error``.
"""
import argparse
import asyncio
import concurrent.futures
import datetime as dt
import logging
import os
import queue as queue_module
import signal
import threading
import time

from . import fastagi, routing
from .lookup import Lookup

logger = logging.getLogger(__name__)

WRITE_BATCH = 200


def utcnow():
    "Naive UTC, Tryton's convention for DateTime fields."
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Snapshot:
    "The configuration part of a routing request, reloaded when stale."

    def __init__(self, max_age):
        self.max_age = max_age
        self.loaded_at = None
        self.values = None
        self._lock = threading.Lock()
        self._reloading = False

    def get(self, pool, pbx_code, database=None, user=0):
        """The snapshot, reloaded when older than ``max_age``.

        Inside a transaction (tests, RPC) it is reloaded there and then.
        Otherwise (the router service) the first load opens a read-only
        transaction of ``database``; later ones happen in the background
        while calls keep the previous snapshot: a reload takes far longer
        than a decision and would stall every call waiting for it."""
        from trytond.transaction import Transaction
        with self._lock:
            stale = (self.values is None
                or time.monotonic() - self.loaded_at > self.max_age)
            if not stale:
                return self.values
            if Transaction().database is not None or not database:
                self._set(self._load(pool, pbx_code))
            elif self.values is None:
                self._set(self._load_in(database, user, pool, pbx_code))
            elif not self._reloading:
                self._reloading = True
                threading.Thread(target=self._reload, daemon=True,
                    args=(database, user, pool, pbx_code)).start()
            return self.values

    def _set(self, values):
        self.values, self.loaded_at = values, time.monotonic()

    def _load_in(self, database, user, pool, pbx_code):
        from trytond.transaction import Transaction
        with Transaction().start(database, user, readonly=True):
            return self._load(pool, pbx_code)

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
            }


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
        self._writer = None

    def static(self):
        return self.snapshot.get(
            self.pool, self.pbx_code, self.database, self.user)

    def request(self, info, now):
        "Build the routing request of a call (see lookup.py)."
        static = self.static()
        policy = static['policy']
        lookup = self.lookup
        caller = lookup.caller(info['caller_raw'], static['caller_options'],
            static['tiers'], now)
        last = None
        if policy.affinity_days > 0 and (caller.number or caller.party_ids):
            last = lookup.last_agent(caller.number, caller.party_ids,
                now - dt.timedelta(days=policy.affinity_days))
        states = lookup.live_states()
        agents = []
        for interface, (name, skills, queues) in static['profiles'].items():
            state, since = states.get(interface, ('logged_out', None))
            agents.append(routing.Agent(interface, state, skills=skills,
                    queues=queues, state_since=since, name=name))
        return routing.Request(caller=caller, dnis=info['dnis'], now=now,
            queues=static['queues'], services=static['services'],
            agents=tuple(agents), last_agent=last[0] if last else None,
            last_agent_at=last[1] if last else None, policy=policy)

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
        decision.because('router_error', f'Router could not decide ({error}):'
            ' default queue.')
        return decision

    def record(self, info, decision, routed_at):
        "Queue the decision for the writer thread."
        self.decisions.put(
            dict(info, routed_at=routed_at, **decision.as_dict()))

    def start_writer(self):
        self._writer = threading.Thread(
            target=self._write_loop, name='cc-router-writer', daemon=True)
        self._writer.start()

    def _write_loop(self):
        stopping = False
        while not stopping:
            batch = [self.decisions.get()]
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(self.decisions.get_nowait())
                except queue_module.Empty:
                    break
            # None, queued by stop_writer, comes after every decision.
            stopping = None in batch
            batch = [decision for decision in batch if decision is not None]
            if batch:
                self.write(batch)

    def stop_writer(self, timeout=10.0):
        "Write the decisions still queued, then end the writer thread."
        if self._writer is None:
            return
        self.decisions.put(None)
        self._writer.join(timeout)
        if self._writer.is_alive():
            logger.error('routing decisions not stored at shutdown '
                '(database unavailable for %s s)', timeout)

    def write(self, batch, retries=None):
        """Store decisions, retrying while the database is unavailable.

        ``retries`` None retries forever: decisions are small and a call
        record without its reason is what this service exists to avoid."""
        from trytond.transaction import Transaction
        delay, attempt = 0.5, 0
        while True:
            try:
                with Transaction().start(self.database, self.user):
                    Call = self.pool.get('cc.call')
                    Call.record_decisions(batch, pbx=self.static()['pbx'])
                return True
            except Exception:
                attempt += 1
                logger.exception('storing %d routing decisions failed',
                    len(batch))
                if retries is not None and attempt > retries:
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 30)


async def handle(router, executor, env, agi):
    "FastAGI handler: decide, answer with channel variables, then record."
    info = call_info(env)
    now = utcnow()
    loop = asyncio.get_running_loop()
    try:
        decision = await loop.run_in_executor(
            executor, router.decide, info, now)
    except Exception as error:
        logger.exception('routing %s failed', info['uniqueid'])
        decision = router.fallback(type(error).__name__)
    for name, value in decision.variables().items():
        await agi.set_variable(name, value)
    logger.debug('%s from %r to %r: %s', info['uniqueid'], info['caller_raw'],
        info['dnis'], ' '.join(decision.explanation))
    if info['uniqueid']:
        router.record(info, decision, now)


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m trytond.modules.cc_telephony.router',
        description='FastAGI router of the contact center: answers '
        'AGI(agi://host:port/route) with CC_* channel variables.')
    parser.add_argument('-c', '--config', dest='config',
        default=os.environ.get('TRYTOND_CONFIG'),
        help='trytond configuration file')
    parser.add_argument('-d', '--database', dest='database', required=True,
        help='database name')
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
    parser.add_argument('-v', '--verbose', action='store_true')
    return parser.parse_args(argv)


def init_pool(config_file, database):
    from trytond import config
    if config_file:
        config.update_etc(config_file)
    from trytond.pool import Pool
    Pool.start()
    pool = Pool(database)
    pool.init()
    return pool


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


async def serve(router, host, port, threads):
    executor = concurrent.futures.ThreadPoolExecutor(
        threads, thread_name_prefix='cc-router')
    router.start_writer()
    server = await fastagi.serve(
        lambda env, agi: handle(router, executor, env, agi), host, port)
    logger.info('router listening on %s:%s', host, port)
    loop = asyncio.get_running_loop()
    async with server:
        try:
            await server.serve_forever()
        finally:
            await loop.run_in_executor(None, router.stop_writer)


async def run_until_signalled(coroutine):
    """Await ``coroutine``; SIGTERM or SIGINT cancels it, so that its
    clean-up (finally blocks) runs and the process exits with status 0."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await coroutine
    except asyncio.CancelledError:
        logger.info('stopped by a signal')


def main(argv=None):
    arguments = parse_arguments(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    init_pool(arguments.config, arguments.database)
    router = Router(arguments.database, pbx_code=arguments.pbx,
        cache_seconds=arguments.cache_seconds)
    host, port = listen_address(router, arguments.listen)
    asyncio.run(run_until_signalled(
            serve(router, host, port, arguments.threads)))


if __name__ == '__main__':
    main()
