"""Routing decision over FastAGI with 10^6 parties: p50/p99 at 50 and 200
concurrent calls (goal p99 <= 20 ms), against baselines in the same run.

    .venv/bin/python bench/routing_decision.py [--quick]
        [--parties 1000000] [--requests 4000] [--backends postgresql,sqlite]

Per backend: a fresh database with cc_telephony, the parties loaded with
plain SQL (ccsuite.demo.bulk_insert) and the demo center
(ccsuite.demo_telephony), its agents all ready. The router runs as its own
process (``python -m trytond.modules.cc_telephony.router``, default 16
threads). Clients speak FastAGI exactly as Asterisk does (pbxsim.agi: the
agi_* environment, then an answer to each SET VARIABLE) and time each
request from connect to close: that is what a caller waits. Callers are
numbers of the loaded parties in the shapes a PBX delivers them, a quarter
unknown; dialled numbers mix the demo's services. Every decision is also
stored on a cc.call by the router's writer thread, as in production.

Variants: ``router`` (as shipped: configuration snapshot cached 5 s,
caller index present); ``no_snapshot_cache`` (--cache-seconds 0: queues,
services and agent profiles read for every call); ``no_caller_index``
(the equality index on the normalised number dropped; fewer requests).
``--quick``: 10^4 parties, 300 requests per level (CI-friendly).
"""
import argparse
import asyncio
import datetime as dt
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import telephony_bench as bench  # noqa: E402

DNIS_MIX = (('10086', 0.75), ('10080', 0.15), ('10086888', 0.10))
# 1: the decision alone; 50 and 200: that many requests always in flight.
LEVELS = (1, 50, 200)
GOAL_MS = 20
TIMEOUT = 30


class Channel:
    "What pbxsim.agi needs of a channel."
    context = 'from-pstn'
    caller_name = ''

    def __init__(self, uniqueid, caller, dnis):
        self.uniqueid, self.caller_num, self.exten = uniqueid, caller, dnis
        self.name = f'PJSIP/trunk-{uniqueid}'
        self.variables = {}


def pbx_shape(e164, rng):
    "How a trunk may deliver a number: national, 0-prefixed, +86, 86."
    national = e164[3:]
    return rng.choice([national, '0' + national, e164, '86' + national])


def make_requests(numbers, count, rng, run_id):
    requests = []
    for index in range(count):
        if numbers and rng.random() < 0.75:
            caller = pbx_shape(rng.choice(numbers), rng)
        else:
            caller = f'1390000{rng.randrange(10000):04d}'
        dnis = rng.choices([d for d, _ in DNIS_MIX],
            [w for _, w in DNIS_MIX])[0]
        requests.append(Channel(f'{run_id}.{index}', caller, dnis))
    return requests


async def timed_route(url, channel):
    "Milliseconds until the router answered and closed, None: timed out."
    from trytond.modules.cc_telephony.pbxsim import agi
    started = time.perf_counter()
    try:
        await agi.route(url, channel, channel.variables.__setitem__,
            timeout=TIMEOUT)
    except asyncio.TimeoutError:
        return None
    elapsed = (time.perf_counter() - started) * 1000
    if not channel.variables.get('CC_ACTION'):
        raise AssertionError(f'no decision for {channel.uniqueid}')
    return elapsed


async def load(url, requests, concurrency):
    "Send ``requests`` with ``concurrency`` calls in flight at all times."
    pending = iter(requests)
    timings = []

    async def caller():
        for channel in pending:
            timings.append(await timed_route(url, channel))
    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return timings, time.perf_counter() - started


class RouterProcess:
    def __init__(self, name, port, *options):
        log_dir = bench.ROOT / 'var' / 'log'
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(log_dir / f'bench-router-{name}.log', 'ab')
        self.process = subprocess.Popen([sys.executable, '-m',
                'trytond.modules.cc_telephony.router', '-d', name,
                '--pbx', 'demo-sim', '--listen', f'127.0.0.1:{port}',
                *options], stdout=self.log, stderr=subprocess.STDOUT)
        from ccsuite import testing
        testing.wait_until(lambda: self._listening(port), 120,
            message='router listening')

    def _listening(self, port):
        import socket
        if self.process.poll() is not None:
            raise RuntimeError('router exited')
        with socket.socket() as sock:
            return sock.connect_ex(('127.0.0.1', port)) == 0

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        self.log.close()
        return code


def all_agents_ready(name):
    from ccsuite import session
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with session.transaction(name) as pool:
        Agent = pool.get('cc.agent')
        Agent.update_live_states([{'interface': a.interface,
                    'state': 'ready', 'since': now - dt.timedelta(minutes=i)}
                for i, a in enumerate(Agent.search([]))])


def run_variant(name, variant, requests, options, levels=LEVELS):
    from ccsuite import testing
    port = testing.free_port()
    router = RouterProcess(name, port, *options)
    url = f'agi://127.0.0.1:{port}/route'
    try:
        asyncio.run(load(url, requests[:50], 10))      # warm-up
        result = {'variant': variant, 'levels': []}
        offset = 50
        for concurrency in levels:
            batch = requests[offset:offset + (len(requests) - 50)
                // len(levels)]
            offset += len(batch)
            timings, elapsed = asyncio.run(load(url, batch, concurrency))
            answered = [t for t in timings if t is not None]
            level = {'concurrency': concurrency,
                **bench.latency_summary(answered),
                'timeouts': len(timings) - len(answered),
                'decisions_per_s': round(len(answered) / elapsed, 1),
                'within_goal': bench.percentile(answered, 0.99) <= GOAL_MS}
            result['levels'].append(level)
            print(f'  {variant:18} {concurrency:>3} concurrent: p50 '
                f'{level["p50_ms"]} ms p99 {level["p99_ms"]} ms '
                f'({level["decisions_per_s"]}/s)', flush=True)
    finally:
        result['exit_code'] = router.stop()
    return result


def caller_indexes(name):
    import caller_lookup
    from ccsuite import session
    from trytond import backend
    with session.transaction(name):
        from trytond.transaction import Transaction
        return caller_lookup.value_compact_indexes(
            Transaction().connection.cursor(), backend.name)


def set_caller_index(name, indexes, present):
    import caller_lookup
    from trytond import backend
    caller_lookup.set_index(name, backend.name, indexes, present)


def run_backend(arguments):
    bench.use_backend(arguments.backend)
    name = f'bench_route_{arguments.parties}'
    print(f'{arguments.backend}: database {name}', flush=True)
    numbers = bench.create_database(name, arguments.parties)
    all_agents_ready(name)
    rng = random.Random(arguments.parties)
    run_id = int(time.time())
    requests = make_requests(numbers, arguments.requests + 50, rng, run_id)
    variants = [run_variant(name, 'router', requests, [])]
    requests = make_requests(numbers, arguments.requests + 50, rng,
        run_id + 1)
    # Baselines are far slower: 200 in flight would only time out.
    variants.append(run_variant(name, 'no_snapshot_cache', requests,
            ['--cache-seconds', '0'], levels=(1, 50)))
    indexes = caller_indexes(name)
    if indexes:
        set_caller_index(name, indexes, present=False)
        few = make_requests(numbers, max(250, arguments.requests // 10),
            rng, run_id + 2)
        variants.append(run_variant(name, 'no_caller_index', few, [],
                levels=(1, 50)))
    result = {'backend': arguments.backend, 'parties': arguments.parties,
        'numbers': len(numbers), 'caller_indexes': [n for n, _ in indexes],
        'variants': variants}
    from ccsuite import database
    database.drop(name)
    return result


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true',
        help='10^4 parties, 300 requests per level')
    parser.add_argument('--parties', type=int, default=None)
    parser.add_argument('--requests', type=int, default=None,
        help='requests per variant, split over the concurrency levels')
    parser.add_argument('--backends', default='postgresql,sqlite')
    parser.add_argument('--backend', help=argparse.SUPPRESS)
    parser.add_argument('--output', help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.parties is None:
        arguments.parties = 10_000 if arguments.quick else 1_000_000
    if arguments.requests is None:
        arguments.requests = 600 if arguments.quick else 8000
    return arguments


def main(argv=None):
    import json
    arguments = parse_arguments(argv)
    if arguments.backend:
        Path(arguments.output).write_text(json.dumps(
                run_backend(arguments), default=str))
        return
    argv = ['--parties', str(arguments.parties),
        '--requests', str(arguments.requests)]
    results = bench.per_backend(__file__, arguments.backends.split(','),
        argv)
    bench.write('routing_decision' + ('_quick' if arguments.quick else ''), {
            'benchmark': 'routing_decision',
            'goal': f'p99 <= {GOAL_MS} ms at 50 and 200 concurrent calls, '
            '10^6 parties',
            'quick': arguments.quick, 'machine': bench.machine(),
            'results': results})


if __name__ == '__main__':
    main()
