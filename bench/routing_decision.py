"""Routing decision over FastAGI with 10^6 parties: p50/p99 at 50 and 200
concurrent calls (goal p99 <= 20 ms), against baselines in the same run.

    .venv/bin/python bench/routing_decision.py [--quick]
        [--parties 1000000] [--backends postgresql,sqlite] [--keep]

Per backend: a database with cc_telephony, the parties loaded with plain
SQL (ccsuite.demo.bulk_insert) and the demo center (ccsuite.demo_telephony),
its agents all ready (``--keep`` keeps it for the next run and reuses it).
The router runs as its own process (``python -m
trytond.modules.cc_telephony.router``). Clients speak FastAGI exactly as
Asterisk does (pbxsim.agi: the agi_* environment, then an answer to each SET
VARIABLE) and time each request until the router closed: what a caller
waits. Callers are numbers of the loaded parties in the shapes a PBX
delivers them, a quarter unknown; dialled numbers mix the demo's services.
Every decision is also stored on a cc.call, as in production.

Two kinds of load:

``open``: what the goal means. N concurrent calls are N calls in progress
on the PBX; each asks the router once, when it arrives, so by Little's law
calls arrive at N / AHT per second (AHT 180 s): 0.28/s for 50, 1.1/s for
200. Arrivals are Poisson and are sent at their time whether or not earlier
answers came (open loop); latency counts from the planned arrival, so a
client that fell behind is not hidden. ``peak`` is the issue's busy hour,
3,000 calls in 15 minutes (3.3/s), with a burst (``BURST`` calls within one
second) in its middle.

``closed``: capacity. 1, 50 and 200 requests always in flight (each client
sends its next request when the previous answer came): the decisions per
second the router sustains and the latency when it is saturated. No PBX
sends like this; it is the ceiling, not the goal.

Variants: ``router`` (as shipped: the variables in one ARRAY() assignment,
one AGI round trip; the clients expand it as Asterisk does, pbxsim.agi);
``variables_answer`` (``--answer variables``: one SET VARIABLE, one round
trip, per variable); ``writer_thread`` (decisions stored by a thread of the
router instead of a child process); ``no_snapshot_cache`` (--cache-seconds
0: queues, services and agent profiles read for every call);
``no_caller_index`` (the equality index on the normalised number dropped,
restored afterwards). ``--quick``: 10^4 parties, short phases.

Where the time goes: ``client_floor`` runs the same clients against a
FastAGI server without a database (its own process, fastagi.py, a fixed
answer of the same size): what the benchmark client, TCP and the FastAGI
layer cost by themselves. Each open phase also reports the client's lag
(how late after its planned arrival a call was actually sent). And
``in_process`` times, without FastAGI, the router's one statement
(lookup.call_reads) and its whole decision (Router.decide) per call.
"""
import argparse
import asyncio
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import telephony_bench as bench  # noqa: E402

DNIS_MIX = (('10086', 0.75), ('10080', 0.15), ('10086888', 0.10))
GOAL_MS = 20
TIMEOUT = 30
AHT_SECONDS = 180
PEAK_RATE = 3000 / (15 * 60)
BURST = 60
# Open-loop phases: name, calls in progress (None: the peak), seconds
# (full run, quick run).
OPEN = (('50_calls', 50, 150, 20), ('200_calls', 200, 150, 20),
    ('peak', None, 150, 20))
# Closed-loop levels: requests always in flight, requests (full, quick).
CLOSED = ((1, 500, 100), (50, 2000, 300), (200, 2000, 300))
VARIANTS = ('router', 'variables_answer', 'client_floor', 'in_process',
    'writer_thread', 'no_snapshot_cache', 'no_caller_index')


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


class Callers:
    "Channels of callers, a quarter unknown, with unique ids."

    def __init__(self, numbers, rng, run_id):
        self.numbers, self.rng, self.run_id = numbers, rng, run_id
        self.count = 0

    def take(self, count):
        channels = []
        for _ in range(count):
            rng = self.rng
            if self.numbers and rng.random() < 0.75:
                caller = pbx_shape(rng.choice(self.numbers), rng)
            else:
                caller = f'1390000{rng.randrange(10000):04d}'
            dnis = rng.choices([d for d, _ in DNIS_MIX],
                [w for _, w in DNIS_MIX])[0]
            channels.append(Channel(f'{self.run_id}.{self.count}', caller,
                    dnis))
            self.count += 1
        return channels


def make_requests(numbers, count, rng, run_id):
    return Callers(numbers, rng, run_id).take(count)


async def timed_route(url, channel, started=None, lags=None):
    """Milliseconds from ``started`` (default: now) until the router
    answered and closed; None: timed out. ``lags[uniqueid]`` gets how
    late (ms) after ``started`` the call was actually sent."""
    from trytond.modules.cc_telephony.pbxsim import agi
    sent = time.perf_counter()
    if started is None:
        started = sent
    elif lags is not None:
        lags[channel.uniqueid] = (sent - started) * 1000
    try:
        # pbxsim.agi sets each variable of an ARRAY() assignment, as
        # Asterisk does.
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


def arrivals(rate, seconds, rng, burst=0):
    """Offsets (s) of Poisson arrivals at ``rate`` per second over
    ``seconds``, plus ``burst`` arrivals spread over one second in the
    middle; returns (offsets, offsets of the burst)."""
    times, at = [], rng.expovariate(rate)
    while at < seconds:
        times.append(at)
        at += rng.expovariate(rate)
    middle = seconds / 2
    burst_times = [middle + rng.random() for _ in range(burst)]
    return sorted(times + burst_times), set(burst_times)


async def sleep_until(moment):
    """Sleep until the perf_counter ``moment``. asyncio sleeps in epoll,
    whose timeout Linux lets run late by 0.1% of its length (the slack of
    select_estimate_accuracy): 3.6 ms for a call planned 3.6 s ahead, the
    client's own lag at 50 calls in progress. Aiming a little early and
    finishing with shorter sleeps keeps it within a millisecond."""
    while (remaining := moment - time.perf_counter()) > 0:
        await asyncio.sleep(remaining * 0.99 if remaining > 0.01
            else remaining)


async def open_load(url, channels, offsets, lags):
    """Send each channel at its offset, whatever the earlier answers;
    time each from its planned start."""
    loop_start = time.perf_counter()

    async def one(channel, offset):
        planned = loop_start + offset
        await sleep_until(planned)
        return await timed_route(url, channel, started=planned, lags=lags)
    return await asyncio.gather(*(one(c, o)
            for c, o in zip(channels, offsets)))


class RouterProcess:
    def __init__(self, name, port, *options, command=None):
        log_dir = bench.ROOT / 'var' / 'log'
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(log_dir / f'bench-router-{name}.log', 'ab')
        self.process = subprocess.Popen(command or [sys.executable, '-m',
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
        "Exit code; 'killed' when the router did not exit within 2 minutes."
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = 'killed'
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


def summary(timings, **extra):
    answered = [t for t in timings if t is not None]
    level = {**extra, **bench.latency_summary(answered),
        'timeouts': len(timings) - len(answered)}
    level['within_goal'] = bool(answered) and not level['timeouts'] and (
        level['p99_ms'] <= GOAL_MS)
    return level


def run_open(url, callers, phase, seconds, rng, min_calls=0):
    name, calls, _, _ = phase
    rate = PEAK_RATE if calls is None else calls / AHT_SECONDS
    # p99 of a few dozen calls is only the worst of them.
    seconds = max(seconds, min_calls / rate)
    burst = BURST if calls is None else 0
    offsets, bursts = arrivals(rate, seconds, rng, burst)
    channels = callers.take(len(offsets))
    lags = {}
    timings = asyncio.run(open_load(url, channels, offsets, lags))
    level = summary(timings, phase=name, calls_in_progress=calls,
        arrivals_per_s=round(rate, 3), seconds=seconds,
        load_average=round(os.getloadavg()[0], 2))
    # How late the client sent each call, and each call timed from its
    # actual sending: what the client's own lag hides or adds.
    level['client_lag'] = bench.latency_summary(list(lags.values()))
    level['from_sending'] = bench.latency_summary(
        [t - lags[c.uniqueid] for t, c in zip(timings, channels)
            if t is not None])
    if bursts:
        level['burst'] = summary(
            [t for t, o in zip(timings, offsets) if o in bursts],
            calls=len(bursts), within_s=1)
    print(f'    open {name:10} {rate:5.2f}/s: p50 {level["p50_ms"]} ms '
        f'p99 {level["p99_ms"]} ms max {level["max_ms"]} ms '
        f'({level["requests"]} calls, {level["timeouts"]} timeouts)'
        + (f'; burst of {len(bursts)}: p99 {level["burst"]["p99_ms"]} ms'
            if bursts else '')
        + f'; client lag p99 {level["client_lag"]["p99_ms"]} ms, from '
        f'sending p99 {level["from_sending"]["p99_ms"]} ms', flush=True)
    return level


def run_closed(url, callers, concurrency, count):
    timings, elapsed = asyncio.run(load(url, callers.take(count),
            concurrency))
    level = summary(timings, in_flight=concurrency,
        load_average=round(os.getloadavg()[0], 2))
    level['decisions_per_s'] = round(level['requests'] / elapsed, 1)
    print(f'    closed {concurrency:>3} in flight: p50 {level["p50_ms"]} ms '
        f'p99 {level["p99_ms"]} ms ({level["decisions_per_s"]}/s)',
        flush=True)
    return level


def run_variant(name, variant, callers, options, quick, rng,
        phases=OPEN, closed=CLOSED, seconds=None, command=None,
        wanted_phases=None, min_calls=0):
    from ccsuite import testing
    port = testing.free_port()
    print(f'  {variant}', flush=True)
    router = RouterProcess(name, port, *options, command=command and [
            *command, str(port)])
    url = f'agi://127.0.0.1:{port}/route'
    result = {'variant': variant, 'options': list(options), 'open': [],
        'closed': []}
    try:
        asyncio.run(load(url, callers.take(50), 5))      # warm-up
        # The writer process is starting meanwhile; let it be ready.
        time.sleep(5)
        for phase in phases:
            if wanted_phases and phase[0] not in wanted_phases:
                continue
            length = seconds or (phase[3] if quick else phase[2])
            result['open'].append(run_open(url, callers, phase, length, rng,
                    0 if seconds else min_calls))
        for concurrency, full, short in closed:
            if wanted_phases and 'closed' not in wanted_phases:
                continue
            result['closed'].append(run_closed(url, callers, concurrency,
                    short if quick else full))
    finally:
        result['exit_code'] = router.stop()
    return result


# What a FastAGI server without a database answers (client_floor): the
# router's variables, of the usual size.
FIXED_ANSWER = {'CC_ACTION': 'queue', 'CC_QUEUE': 'consult',
    'CC_PRIORITY': '10', 'CC_AGENT': 'PJSIP/8002', 'CC_ANNOUNCE': '',
    'CC_TARGET': '', 'CC_TIMEOUT': '300', 'CC_OVERFLOW': '',
    'CC_WAIT_MINUTES': '', 'CC_CHOICE_EXTEN': '',
    'CC_REASON': 'service,tier,vip,affinity'}


def serve_fixed_answer(port):
    "The client_floor server: FastAGI, one ARRAY() answer, no database."
    from trytond.modules.cc_telephony import fastagi, router

    async def handler(env, agi):
        await agi.set_variables(FIXED_ANSWER, combined=True)

    async def main():
        server = await fastagi.serve(handler, '127.0.0.1', port)
        async with server:
            await server.serve_forever()
    sys.setswitchinterval(router.SWITCH_INTERVAL)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(main())


def in_process(name, callers, count):
    """Per call, without FastAGI: the router's one statement and its whole
    decision (configuration cached as in the service)."""
    from ccsuite import session
    from trytond.modules.cc_telephony import router as module
    with session.transaction(name, readonly=True):
        pass
    router = module.Router(name, pbx_code='demo-sim', cache_seconds=3600)
    static = router.static()
    reads, decisions = [], []
    for channel in callers.take(count):
        info = module.call_info({'agi_callerid': channel.caller_num,
                'agi_extension': channel.exten,
                'agi_uniqueid': channel.uniqueid})
        now = module.utcnow()
        started = time.perf_counter()
        router.lookup.call_reads(info['caller_raw'],
            static['caller_options'], static['tiers'], now,
            now - dt.timedelta(days=static['policy'].affinity_days))
        middle = time.perf_counter()
        router.decide(info, now)
        decisions.append((time.perf_counter() - middle) * 1000)
        reads.append((middle - started) * 1000)
    result = {'call_reads': bench.latency_summary(reads),
        'decide': bench.latency_summary(decisions),
        'load_average': round(os.getloadavg()[0], 2)}
    print(f'  in process: call_reads p50 {result["call_reads"]["p50_ms"]} '
        f'p99 {result["call_reads"]["p99_ms"]} ms; decide p50 '
        f'{result["decide"]["p50_ms"]} p99 {result["decide"]["p99_ms"]} ms',
        flush=True)
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


def prepare(name, parties, keep):
    """The database and the E.164 numbers of its parties: reused when
    ``keep`` and it has them, else created."""
    from ccsuite import database, session
    if keep and database.exists(name):
        with session.transaction(name, readonly=True):
            from trytond.transaction import Transaction
            cursor = Transaction().connection.cursor()
            cursor.execute('SELECT count(*) FROM party_party')
            count, = cursor.fetchone()
            if count >= parties:
                cursor.execute("SELECT value_compact FROM "
                    "party_contact_mechanism WHERE type IN "
                    "('phone', 'mobile') ORDER BY id")
                print(f'  reusing {name} ({count} parties)', flush=True)
                return [n for n, in cursor]
    return bench.create_database(name, parties)


def ratio(slow, fast):
    return round(slow / fast, 1) if slow and fast else None


def baseline_ratios(shipped, variant):
    "Baseline over shipped router at the peak and 50 in flight (if run)."
    def level(result, kind, key, value):
        return next((p for p in result[kind] if p[key] == value), None)
    ratios = {}
    peaks = [level(r, 'open', 'phase', 'peak') for r in (variant, shipped)]
    if all(peaks):
        ratios['peak_p50'] = ratio(peaks[0]['p50_ms'], peaks[1]['p50_ms'])
        ratios['peak_p99'] = ratio(peaks[0]['p99_ms'], peaks[1]['p99_ms'])
    closed = [level(r, 'closed', 'in_flight', 50) for r in (shipped, variant)]
    if all(closed):
        ratios['capacity'] = ratio(closed[0]['decisions_per_s'],
            closed[1]['decisions_per_s'])
    return ratios


def run_backend(arguments):
    bench.use_backend(arguments.backend)
    name = f'bench_route_{arguments.parties}'
    print(f'{arguments.backend}: database {name}', flush=True)
    numbers = prepare(name, arguments.parties, arguments.keep)
    all_agents_ready(name)
    rng = random.Random(arguments.parties)
    callers = Callers(numbers, rng, int(time.time()))
    quick = arguments.quick
    peak = [p for p in OPEN if p[1] is None]
    # Baselines: the peak, and the ceiling up to 50 in flight (200 in
    # flight would only time out).
    baseline_seconds = 20 if quick else 90
    wanted = set(arguments.variants.split(','))
    plans = [
        ('router', [], {}),
        ('variables_answer', ['--answer', 'variables'], {}),
        ('client_floor', [], {'command': [sys.executable, __file__,
                    '--serve-fixed-answer'], 'seconds': baseline_seconds}),
        ('writer_thread', ['--writer', 'thread'], {'phases': peak,
                'closed': CLOSED[:2], 'seconds': baseline_seconds}),
        ('no_snapshot_cache', ['--cache-seconds', '0'], {'phases': peak,
                'closed': CLOSED[:2], 'seconds': baseline_seconds}),
        ]
    phases = (set(arguments.phases.split(','))
        if arguments.phases else None)
    variants = [run_variant(name, variant, callers, options, quick, rng,
            wanted_phases=phases, min_calls=arguments.min_calls, **keywords)
        for variant, options, keywords in plans if variant in wanted]
    extra = {}
    if 'in_process' in wanted:
        extra['in_process'] = in_process(name, callers, 200 if quick else 1000)
    indexes = caller_indexes(name)
    if indexes and 'no_caller_index' in wanted:
        set_caller_index(name, indexes, present=False)
        try:
            variants.append(run_variant(name, 'no_caller_index', callers,
                    [], quick, rng, peak, ((1, 100, 50), (50, 300, 100)),
                    20 if quick else 60))
        finally:
            set_caller_index(name, indexes, present=True)
    ratios = {}
    shipped = variants[0] if variants else {}
    for variant in variants[1:] if shipped.get('variant') == 'router' else []:
        ratios[variant['variant']] = baseline_ratios(shipped, variant)
    result = {'backend': arguments.backend, 'parties': arguments.parties,
        'numbers': len(numbers), 'caller_indexes': [n for n, _ in indexes],
        'variants': variants, **extra,
        'baseline_over_router': ratios}
    if not arguments.keep:
        from ccsuite import database
        database.drop(name)
    return result


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true',
        help='10^4 parties, short phases')
    parser.add_argument('--parties', type=int, default=None)
    parser.add_argument('--backends', default='postgresql,sqlite')
    parser.add_argument('--keep', action='store_true',
        help='keep the database for the next run, and reuse it')
    parser.add_argument('--variants', default=','.join(VARIANTS),
        help='comma-separated variants to run (default: all)')
    parser.add_argument('--phases', default=None,
        help='comma-separated open phases (50_calls, 200_calls, peak) and '
        '"closed" to run (default: all)')
    parser.add_argument('--min-calls', type=int, default=0,
        help='lengthen each open phase of the router variants to at least '
        'this many calls (e.g. 500: 30 minutes at 50 calls in progress)')
    parser.add_argument('--serve-fixed-answer', type=int, metavar='PORT',
        help=argparse.SUPPRESS)
    parser.add_argument('--results-name', default=None,
        help='name of the results file (default: routing_decision, '
        '_quick with --quick)')
    parser.add_argument('--backend', help=argparse.SUPPRESS)
    parser.add_argument('--output', help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.parties is None:
        arguments.parties = 10_000 if arguments.quick else 1_000_000
    return arguments


def results_name(arguments):
    return arguments.results_name or (
        'routing_decision' + ('_quick' if arguments.quick else ''))


def kept_results(arguments, results):
    """Results of the other backends from the previous run at the same
    size, so that the backends can be measured one at a time."""
    import json
    path = bench.RESULTS / (results_name(arguments) + '.json')
    if not path.exists():
        return []
    done = {r['backend'] for r in results}
    previous = json.loads(path.read_text()).get('results', [])
    return [r for r in previous if r['backend'] not in done
        and r.get('parties') == arguments.parties and 'variants' in r
        and r['variants'] and 'open' in r['variants'][0]]


def main(argv=None):
    import json
    arguments = parse_arguments(argv)
    if arguments.serve_fixed_answer:
        serve_fixed_answer(arguments.serve_fixed_answer)
        return
    if arguments.backend:
        Path(arguments.output).write_text(json.dumps(
                run_backend(arguments), default=str))
        return
    argv = ['--parties', str(arguments.parties)]
    argv += ['--quick'] if arguments.quick else []
    argv += ['--keep'] if arguments.keep else []
    argv += ['--variants', arguments.variants]
    argv += ['--phases', arguments.phases] if arguments.phases else []
    argv += ['--min-calls', str(arguments.min_calls)]
    results = bench.per_backend(__file__, arguments.backends.split(','),
        argv)
    results = kept_results(arguments, results) + results
    bench.write(results_name(arguments), {
            'benchmark': 'routing_decision',
            'goal': f'p99 <= {GOAL_MS} ms at 50 and 200 concurrent calls, '
            '10^6 parties',
            'load': {'aht_seconds': AHT_SECONDS,
                'arrivals_per_s': {'50_calls': round(50 / AHT_SECONDS, 3),
                    '200_calls': round(200 / AHT_SECONDS, 3),
                    'peak': round(PEAK_RATE, 3)},
                'burst': f'{BURST} calls within 1 s in the middle of the '
                'peak phase',
                'open_loop': 'Poisson arrivals sent on time whatever the '
                'answers; latency from the planned arrival',
                'closed_loop': 'N requests always in flight: capacity'},
            'quick': arguments.quick, 'machine': bench.machine(),
            'results': results})


if __name__ == '__main__':
    main()
