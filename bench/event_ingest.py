"""Event ingest rate of the bridge into SQLite and PostgreSQL, with zero
loss (goal >= 5,000 events/s on PostgreSQL), the set-based store against
the record-by-record ORM store (the baseline), in the same run.

    .venv/bin/python bench/event_ingest.py [--quick] [--calls 3000]
        [--backends postgresql,sqlite]

The PBX simulator (pbxsim) plays a busy queue (50 agents, Poisson arrivals,
holds, blind and attended transfers, ring-no-answer, abandons) and its AMI
events are recorded first, so the simulator is not part of the figure.
They are then fed, as fast as the bridge takes them, through the bridge's
own code: ``bridge.PbxLink`` (tracker, fact sink, screen-pop hook) writing
with ``bridge.Database`` in its worker thread, flushed every 0.1 s as the
service does (--flush-interval). Feeding waits for each flush (the service
keeps reading AMI meanwhile), so the figures are a lower bound. The clock
stops when every fact is stored.

Variants: ``set`` is the bridge as it runs (set-based ingest, screen pops
on); ``set_no_pop`` leaves out the screen-pop hook (one agent_connected
transaction per answered call, screenpop.py), so it measures the ingest
of facts and live states alone; ``orm`` and ``orm_no_pop`` are the same with
``Database(orm=True)``, the ingest before it was set-based, on a fifth of
the traffic. ``store_s`` and ``pop_s`` are the seconds spent in
``Database.store`` and in the screen-pop transactions.

Zero loss: the calls and intervals the tracker emitted are counted against
the rows found in the database, the spool is empty and nothing was
dead-lettered. AMI parsing over TCP is not part of the figure (see
peak_500_agents.py for the whole chain). ``--quick``: 300 calls.
"""
import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import telephony_bench as bench  # noqa: E402

GOAL = 5000
AGENTS = 50
FLUSH_SECONDS = 0.1


def traffic_scenario(calls, start):
    rate = 12.0
    return {
        'start': start.isoformat(), 'seed': calls,
        'queues': [{'name': 'consult', 'strategy': 'rrmemory',
            'timeout': 15, 'wrapuptime': 10}],
        'agents': [{'interface': f'PJSIP/{7000 + n}',
            'queues': {'consult': 0}, 'answer_delay': 4,
            'no_answer_probability': 0.05}
            for n in range(AGENTS)],
        'traffic': {'rate_per_minute': rate, 'duration': calls / rate * 60,
            'dnis': '10086', 'queue': 'consult', 'ring_no_answer': 0.05,
            'handle_time': {'dist': 'lognormal', 'mean': 180, 'sigma': 0.6},
            'patience': {'dist': 'exponential', 'mean': 150},
            'hold': {'probability': 0.15, 'duration': 20},
            'transfer': {'blind': 0.03, 'attended': 0.03, 'target': '8003'}},
        }


def record_events(calls, start):
    "The AMI events of ``calls`` simulated calls, in order."
    import random
    from trytond.modules.cc_telephony.pbxsim import scenario
    settings = traffic_scenario(calls, start)
    traffic = settings.pop('traffic')
    sim = scenario.build(settings)
    rng = random.Random(calls)
    bench.schedule_arrivals(sim, traffic, sorted(
            rng.uniform(0, traffic['duration']) for _ in range(calls)), rng)
    events = []
    sim.listeners.append(events.append)
    duration = calls / 12.0 * 60 + 3600
    asyncio.run(sim.advance(duration))
    return events


class CountingLink:
    "A bridge PbxLink whose emitted facts are counted."

    def __init__(self, database, pbx, executor, spool_dir):
        from trytond.modules.cc_telephony.bridge import PbxLink
        self.link = PbxLink(pbx, database, executor, spool_dir,
            clock_speed=0)
        self.emitted = {'call': set(), 'interval': set()}
        on_fact = self.link.tracker.on_fact

        def counting(kind, data):
            self.emitted[kind].add(
                data['uniqueid'] if kind == 'call' else data['key'])
            on_fact(kind, data)
        self.link.tracker.on_fact = counting


async def ingest(link, events):
    "Feed every event; return the seconds until all facts are stored."
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    last_flush = started
    for event in events:
        link.link._on_event(event)
        now = time.perf_counter()
        if now - last_flush >= FLUSH_SECONDS:
            await link.link.flush()
            last_flush = now
    link.link.tracker.tick(link.link.tracker.now + dt.timedelta(hours=1))
    link.link.tracker.flush()
    await link.link.flush()
    # Screen-pop writes still queued in the worker thread count too.
    await loop.run_in_executor(link.link.executor, lambda: None)
    return time.perf_counter() - started


def stored(name, link):
    "How many of the emitted calls and intervals the database has."
    from ccsuite import session
    with session.transaction(name, readonly=True) as pool:
        Call = pool.get('cc.call')
        State = pool.get('cc.agent.state')
        calls = link.emitted['call']
        keys = link.emitted['interval']
        found_calls = sum(Call.search_count([('uniqueid', 'in', chunk),
                        ('state', '=', 'ended')])
            for chunk in chunks(sorted(calls)))
        found_intervals = sum(State.search_count([('key', 'in', chunk)])
            for chunk in chunks(sorted(keys)))
    return found_calls, found_intervals


def chunks(values, size=500):
    return [values[i:i + size] for i in range(0, len(values), size)]


class Timed:
    "Seconds spent in a function, in whichever thread calls it."

    def __init__(self, function):
        self.function = function
        self.seconds = 0.0

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def run_variant(name, database, pbx, events, variant):
    import concurrent.futures
    from unittest import mock
    from trytond.modules.cc_telephony import screenpop
    executor = concurrent.futures.ThreadPoolExecutor(1)
    store = Timed(database.store)
    pop = Timed(screenpop.store_connection)
    patches = [mock.patch.object(database, 'store', store),
        mock.patch.object(screenpop, 'store_connection', pop)]
    if variant.endswith('_no_pop'):
        patches.append(mock.patch.object(
                screenpop, 'on_bridge_event', lambda link, event: None))
    with tempfile.TemporaryDirectory() as spool_dir:
        for patch in patches:
            patch.start()
        try:
            link = CountingLink(database, pbx, executor, spool_dir)
            seconds = asyncio.run(ingest(link, events))
        finally:
            for patch in patches:
                patch.stop()
        backlog = link.link.sink.backlog
        dead = link.link.sink.dead
        link.link.sink.close()
    executor.shutdown()
    calls, intervals = stored(name, link)
    result = {
        'variant': variant, 'events': len(events),
        'seconds': round(seconds, 2),
        'events_per_s': round(len(events) / seconds),
        'store_s': round(store.seconds, 2), 'pop_s': round(pop.seconds, 2),
        'calls_emitted': len(link.emitted['call']), 'calls_stored': calls,
        'intervals_emitted': len(link.emitted['interval']),
        'intervals_stored': intervals, 'spool_backlog': backlog,
        'dead_letters': dead,
        }
    result['lost'] = (result['calls_emitted'] - calls
        + result['intervals_emitted'] - intervals + backlog + dead)
    print(f'  {variant:10} {len(events)} events in {seconds:.1f} s: '
        f'{result["events_per_s"]} events/s (store {store.seconds:.1f} s, '
        f'screen pops {pop.seconds:.1f} s); calls {calls}/'
        f'{result["calls_emitted"]}, intervals {intervals}/'
        f'{result["intervals_emitted"]}, lost {result["lost"]}', flush=True)
    return result


def run_backend(arguments):
    bench.use_backend(arguments.backend)
    from ccsuite import session
    name = 'bench_ingest'
    print(f'{arguments.backend}: database {name}', flush=True)
    bench.create_database(name, parties=2000)
    from trytond.modules.cc_telephony.bridge import Database
    database = Database(name)
    baseline = Database(name, orm=True)
    pbx, = database.pbxs('demo-sim')
    start = dt.datetime(2026, 3, 2, 1, 0)
    few = max(60, arguments.calls // 5)
    variants = []
    # Each variant on its own day: new unique ids, nothing stored before.
    for day, (variant, db, calls) in enumerate([
                ('set', database, arguments.calls),
                ('set_no_pop', database, arguments.calls),
                ('orm', baseline, few),
                ('orm_no_pop', baseline, few)]):
        events = record_events(calls, start + dt.timedelta(days=day))
        variants.append(run_variant(name, db, pbx, events, variant))
    with session.transaction(name):
        pass
    from ccsuite import database as suite_database
    suite_database.drop(name)
    by_name = {v['variant']: v for v in variants}
    return {'backend': arguments.backend, 'calls': arguments.calls,
        'baseline_calls': few,
        'speedup_no_pop': round(by_name['set_no_pop']['events_per_s']
            / by_name['orm_no_pop']['events_per_s'], 1),
        'speedup': round(by_name['set']['events_per_s']
            / by_name['orm']['events_per_s'], 1),
        'variants': variants}


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='300 calls')
    parser.add_argument('--calls', type=int, default=None)
    parser.add_argument('--backends', default='postgresql,sqlite')
    parser.add_argument('--backend', help=argparse.SUPPRESS)
    parser.add_argument('--output', help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.calls is None:
        arguments.calls = 300 if arguments.quick else 3000
    return arguments


def main(argv=None):
    arguments = parse_arguments(argv)
    if arguments.backend:
        Path(arguments.output).write_text(json.dumps(run_backend(arguments)))
        return
    results = bench.per_backend(__file__, arguments.backends.split(','),
        ['--calls', str(arguments.calls)])
    bench.write('event_ingest' + ('_quick' if arguments.quick else ''), {
            'benchmark': 'event_ingest',
            'goal': f'>= {GOAL} events/s on PostgreSQL with zero loss',
            'goal_met': {variant: any(
                    r['backend'] == 'postgresql' and v['variant'] == variant
                    and v['lost'] == 0 and v['events_per_s'] >= GOAL
                    for r in results for v in r['variants'])
                for variant in ('set', 'set_no_pop')},
            'quick': arguments.quick, 'machine': bench.machine(),
            'results': results})


if __name__ == '__main__':
    main()
