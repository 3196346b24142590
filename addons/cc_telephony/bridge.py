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
"""
import argparse
import asyncio
import concurrent.futures
import datetime as dt
import logging
import os
import time

from . import screenpop
from .ami import AMIClient, AMIError, channel_uniqueids
from .spool import Spool
from .tracker import Tracker

logger = logging.getLogger(__name__)

REPLAY_BATCH = 500
STATUS_EVERY = 5.0


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


class FactSink:
    """Ordered, loss-free delivery of tracker facts to ``store``.

    ``store(calls, intervals)`` writes one batch in one transaction and
    raises when it cannot. A failed batch is spooled; while the spool holds
    anything, newer facts are spooled behind it so that order is kept.
    """

    def __init__(self, store, spool_path):
        self.store = store
        self.spool = Spool(spool_path)
        self.pending = []
        self.stored = 0

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

    def _deliver(self, items):
        calls = [data for kind, data in items if kind == 'call']
        intervals = [data for kind, data in items if kind == 'interval']
        try:
            self.store(calls, intervals)
        except Exception as error:
            logger.warning('storing %d facts failed (%s): spooled',
                len(items), error)
            return False
        self.stored += len(items)
        return True

    def close(self):
        self.spool.close()


class Database:
    "The Tryton side of the bridge; every method runs in one worker thread."

    def __init__(self, name, user=0):
        from trytond.pool import Pool
        self.name = name
        self.user = user
        self.pool = Pool(name)

    def _transaction(self, readonly=False):
        from trytond.transaction import Transaction
        return Transaction().start(self.name, self.user, readonly=readonly)

    def pbxs(self, code=None):
        "Connection settings of the active PBXs (or the one named)."
        with self._transaction(readonly=True):
            Pbx = self.pool.get('cc.pbx')
            domain = [('code', '=', code)] if code else []
            return [{
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
        with self._transaction() as transaction:
            pool = self.pool
            if intervals:
                pool.get('cc.agent.state').ingest_intervals(intervals)
            if calls:
                pool.get('cc.call').ingest_facts(calls, pbx=pbx_id)
            if live_states:
                pool.get('cc.agent').update_live_states(live_states)
            transaction.commit()

    def report_status(self, pbx_id, status, last_event, message=None):
        with self._transaction() as transaction:
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
            clock_speed=1.0, wrapups=None):
        self.settings = settings
        self.database = database
        self.executor = executor
        self.clock_speed = clock_speed
        self.wrapups = wrapups or {}
        self.tracker = Tracker(self._on_fact,
            inbound_contexts=settings['inbound_contexts'] or (
                'from-pstn', 'from-trunk'),
            wrapup_seconds=lambda interface: self.wrapups.get(interface))
        self.sink = FactSink(
            lambda calls, intervals: database.store(
                settings['id'], calls, intervals, self._live_changes()),
            os.path.join(spool_dir, f'bridge-{settings["code"]}.spool'))
        self.client = AMIClient(settings['host'], settings['port'],
            settings['username'], settings['secret'],
            on_event=self._on_event, on_resync=self._on_resync)
        self.last_event = None
        self._last_event_wall = None
        self._pushed = {}
        self._status_at = 0.0
        self._status = None
        self._held = None   # events that came during a resync
        self._held_from = 0     # the stream position of the first held

    def _on_fact(self, kind, data):
        self.sink.add(kind, data)

    def _on_event(self, event):
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
        would be lost (a hang-up after its channel was reaped)."""
        self._held, self._held_from = [], client.events_dispatched
        try:
            try:
                channels = await client.action('CoreShowChannels')
            except AMIError as error:
                logger.warning('CoreShowChannels refused: %s', error)
            else:
                # Channels that hung up during a cut are ended at resync.
                self._release(channels.events_before)
                self.tracker.reap(channel_uniqueids(channels.events),
                    self.tracker.now or utcnow())
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

    def _release(self, events_before):
        "Feed the held events that came before a snapshot in the stream."
        count = events_before - self._held_from
        ready, self._held = self._held[:count], self._held[count:]
        self._held_from = events_before
        for event in ready:
            self._feed(event)

    def _live_changes(self):
        "Agents whose live state changed since the last successful write."
        changes = []
        for interface, agent in self.tracker.agents.items():
            live = (agent.state, agent.reason, agent.start)
            if self._pushed.get(interface) != live:
                changes.append({'interface': interface, 'state': agent.state,
                        'reason': agent.reason, 'since': agent.start})
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
        await self._report(ok)

    def _live_pending(self):
        return any(self._pushed.get(i) != (a.state, a.reason, a.start)
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
        if not database_ok or (status == self._status
                and now - self._status_at < STATUS_EVERY):
            return
        self._status, self._status_at = status, now
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.executor,
                self.database.report_status, self.settings['id'], status,
                self.last_event)
        except Exception as error:
            logger.warning('PBX status not stored: %s', error)


async def run(database, pbx_code, spool_dir, flush_interval, clock_speed):
    executor = concurrent.futures.ThreadPoolExecutor(
        1, thread_name_prefix='cc-bridge-db')
    loop = asyncio.get_running_loop()
    settings = await loop.run_in_executor(executor, database.pbxs, pbx_code)
    if not settings:
        raise SystemExit('no active PBX (cc.pbx) to connect to')
    wrapups = await loop.run_in_executor(executor, database.wrapups)
    os.makedirs(spool_dir, exist_ok=True)
    links = [PbxLink(s, database, executor, spool_dir, clock_speed, wrapups)
        for s in settings]
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
            link.sink.close()


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m trytond.modules.cc_telephony.bridge',
        description='AMI bridge of the contact center: records calls and '
        'agent states of every active PBX (cc.pbx) in the database.')
    parser.add_argument('-c', '--config', dest='config',
        default=os.environ.get('TRYTOND_CONFIG'),
        help='trytond configuration file')
    parser.add_argument('-d', '--database', dest='database', required=True,
        help='database name')
    parser.add_argument('--pbx', default=None,
        help='code of the only cc.pbx to follow (default: every active one)')
    parser.add_argument('--spool-dir', default=os.path.join('var', 'spool'),
        help='where facts wait while the database is unavailable '
        '(default: var/spool)')
    parser.add_argument('--flush-interval', type=float, default=0.5,
        help='seconds between two writes to the database')
    parser.add_argument('--clock-speed', type=float, default=1.0,
        help='PBX seconds per real second (a simulator run with --speed)')
    parser.add_argument('-v', '--verbose', action='store_true')
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    from .router import init_pool, run_until_signalled
    init_pool(arguments.config, arguments.database)
    database = Database(arguments.database)
    asyncio.run(run_until_signalled(run(database, arguments.pbx,
                arguments.spool_dir, arguments.flush_interval,
                arguments.clock_speed)))


if __name__ == '__main__':
    main()
