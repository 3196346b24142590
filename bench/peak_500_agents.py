"""A simulated 500-agent peak: 3,000 calls in 15 minutes of PBX time through
the whole chain, with no loss.

    .venv/bin/python bench/peak_500_agents.py [--quick]
        [--agents 500] [--calls 3000] [--backends postgresql,sqlite]

The PBX simulator (pbxsim, in this process) serves AMI over TCP and asks
the router (its own process, ``python -m trytond.modules.cc_telephony.
router``) over FastAGI where each call goes; the bridge's ``PbxLink``
(in this process, so that its facts can be counted) follows AMI over TCP
and writes to the database every 0.1 s. Arrivals: ``calls`` at uniform
random times over 900 s (a Poisson process given its count), handle
times lognormal (mean 120 s), holds, transfers, abandons; all agents
signed in. The simulator runs as fast as the chain lets it, in one-second
steps, with a DeviceStateChange heartbeat per second so that the bridge's
clock follows its events (--clock-speed 0). Counted at the end: calls
generated, calls the PBX completed (its Cdr events), call facts the
tracker emitted, calls stored as ended, decisions the router stored,
intervals emitted and stored. ``--quick``: 50 agents, 300 calls.
"""
import argparse
import asyncio
import datetime as dt
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import telephony_bench as bench  # noqa: E402

PEAK_SECONDS = 900
TAIL_SECONDS = 1800
QUEUE = 'consult'


def create_agents(name, count):
    "``count`` agents in the demo's general queue (PJSIP/6000…)."
    from ccsuite import session
    with session.transaction(name) as pool:
        Queue = pool.get('cc.queue')
        general, = Queue.search([('code', '=', QUEUE)])
        pool.get('cc.agent').create([{'interface': f'PJSIP/{6000 + n}',
                    'memberships': [('create', [{'queue': general.id}])]}
                for n in range(count)])


def scenario_of(agents, start):
    return {'start': start.isoformat(), 'seed': 500,
        'queues': [{'name': QUEUE, 'strategy': 'rrmemory', 'timeout': 15,
            'retry': 2, 'wrapuptime': 10}],
        'agents': [{'interface': f'PJSIP/{6000 + n}',
            'queues': {QUEUE: 0}, 'answer_delay': 3,
            'no_answer_probability': 0.03} for n in range(agents)]}


TRAFFIC = {'handle_time': {'dist': 'lognormal', 'mean': 120, 'sigma': 0.5},
    'patience': {'dist': 'exponential', 'mean': 180},
    'hold': {'probability': 0.1, 'duration': 15},
    'transfer': {'blind': 0.02, 'attended': 0.02, 'target': '8003'}}


def schedule_calls(sim, calls, numbers, rng):
    "``calls`` arrivals at uniform random times over the peak."
    callers = ['0' + number[3:] for number in numbers[:5000]]
    bench.schedule_arrivals(sim, TRAFFIC, sorted(
            rng.uniform(0, PEAK_SECONDS) for _ in range(calls)), rng,
        callers, queue=QUEUE)


class Counters:
    def __init__(self, sim, link):
        self.pbx_completed = 0
        self.calls, self.intervals = set(), set()
        self.events = 0
        sim.listeners.append(self._on_pbx_event)
        on_fact = link.tracker.on_fact

        def counting(kind, data):
            if kind == 'call':
                self.calls.add(data['uniqueid'])
            else:
                self.intervals.add(data['key'])
            on_fact(kind, data)
        link.tracker.on_fact = counting

    def _on_pbx_event(self, event):
        self.events += 1
        if event['Event'] == 'Cdr' and event.get('Channel', '').startswith(
                'PJSIP/trunk') and event.get('DestinationContext') == (
                'from-pstn'):
            self.pbx_completed += 1


def heartbeat(sim):
    sim.emit('DeviceStateChange', Device='PJSIP/heartbeat', State='NOT_INUSE')
    sim.at(1, heartbeat, sim)


def peak_simulator(agents, calls, numbers, start, agi_port):
    "The PBX simulator with the peak's agents signed in and calls scheduled."
    from trytond.modules.cc_telephony.pbxsim import scenario
    sim = scenario.build(scenario_of(agents, start),
        f'agi://127.0.0.1:{agi_port}/route')
    schedule_calls(sim, calls, numbers, random.Random(3000))
    return sim


async def play(name, database, pbx, arguments, numbers, spool_dir):
    start = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None,
        microsecond=0)
    sim = peak_simulator(arguments.agents, arguments.calls, numbers, start,
        pbx['agi_port'])
    heartbeat(sim)
    chain = bench.BridgedSimulator(sim, pbx, database, spool_dir,
        clock_speed=0)
    link = chain.link
    counters = Counters(sim, link)
    await chain.start()
    started = time.perf_counter()
    for second in range(1, PEAK_SECONDS + TAIL_SECONDS + 1):
        await sim.advance_to(start + dt.timedelta(seconds=second))
        if second > PEAK_SECONDS and not sim.callers:
            break
    simulated = time.perf_counter() - started
    deadline = time.monotonic() + 600
    while (len(counters.calls) < counters.pbx_completed or link.sink.pending
            or link.sink.backlog) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await chain.drain()
    stored_after = time.perf_counter() - started
    await chain.close()
    return {'start': start, 'wall_seconds': round(simulated, 1),
        'wall_seconds_until_stored': round(stored_after, 1),
        'pbx_seconds': int((sim.now - start).total_seconds()),
        'ami_events': counters.events, 'counters': counters,
        'backlog': link.sink.backlog}


def stored(name, start, counters):
    from ccsuite import session
    with session.transaction(name, readonly=True) as pool:
        Call = pool.get('cc.call')
        State = pool.get('cc.agent.state')
        window = [('enter_time', '>=', start)]
        return {
            'calls_in_db': Call.search_count(window),
            'calls_ended_in_db': Call.search_count(
                window + [('state', '=', 'ended')]),
            'router_decisions_in_db': Call.search_count(
                window + [('routed_at', '!=', None)]),
            'intervals_in_db': sum(State.search_count([('key', 'in', chunk)])
                for chunk in chunks(sorted(counters.intervals))),
            }


def decisions_settled(name, start, calls, timeout=180):
    """Seconds until the router (its writer thread) has stored a decision
    for every call, or None if it has not within ``timeout``."""
    from ccsuite import session
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with session.transaction(name, readonly=True) as pool:
            routed = pool.get('cc.call').search_count([
                    ('enter_time', '>=', start), ('routed_at', '!=', None)])
        if routed >= calls:
            return round(time.monotonic() - started, 1)
        time.sleep(1)
    return None


def chunks(values, size=500):
    return [values[i:i + size] for i in range(0, len(values), size)]


def run_backend(arguments):
    bench.use_backend(arguments.backend)
    from ccsuite import testing
    name = 'bench_peak'
    print(f'{arguments.backend}: database {name}', flush=True)
    numbers = bench.create_database(name, parties=20000)
    create_agents(name, arguments.agents)
    from trytond.modules.cc_telephony.bridge import Database
    from routing_decision import RouterProcess
    database = Database(name)
    pbx, = database.pbxs('demo-sim')
    pbx['port'], pbx['agi_port'] = testing.free_port(), testing.free_port()
    router = RouterProcess(name, pbx['agi_port'])
    try:
        with tempfile.TemporaryDirectory() as spool_dir:
            run = asyncio.run(play(name, database, pbx, arguments, numbers,
                    spool_dir))
        run['decisions_stored_after_s'] = decisions_settled(
            name, run['start'], arguments.calls)
    finally:
        router_exit = router.stop()
    counters = run.pop('counters')
    # The router stores its decisions from a writer thread: it has
    # finished when it exits.
    result = {'backend': arguments.backend, 'agents': arguments.agents,
        'calls_generated': arguments.calls,
        'calls_pbx_completed': counters.pbx_completed,
        'call_facts_emitted': len(counters.calls),
        'intervals_emitted': len(counters.intervals),
        **stored(name, run.pop('start'), counters), **run,
        'router_exit_code': router_exit}
    # Every AMI event sent, over TCP, tracked and stored: until the last
    # fact is in the database.
    result['ingest_events_per_s'] = round(
        result['ami_events'] / result['wall_seconds_until_stored'])
    result['speed_up'] = round(result['pbx_seconds'] / result['wall_seconds'],
        1)
    result['lost'] = {
        'pbx_vs_generated': result['calls_generated']
        - result['calls_pbx_completed'],
        'facts_vs_pbx': result['calls_pbx_completed']
        - result['call_facts_emitted'],
        'db_vs_facts': result['call_facts_emitted']
        - result['calls_ended_in_db'],
        'decisions_vs_generated': result['calls_generated']
        - result['router_decisions_in_db'],
        'intervals_db_vs_emitted': result['intervals_emitted']
        - result['intervals_in_db'],
        }
    print(json.dumps(result, indent=1, default=str), flush=True)
    from ccsuite import database as suite_database
    suite_database.drop(name)
    return result


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true',
        help='50 agents, 300 calls')
    parser.add_argument('--agents', type=int, default=None)
    parser.add_argument('--calls', type=int, default=None)
    parser.add_argument('--backends', default='postgresql,sqlite')
    parser.add_argument('--backend', help=argparse.SUPPRESS)
    parser.add_argument('--output', help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.agents is None:
        arguments.agents = 50 if arguments.quick else 500
    if arguments.calls is None:
        arguments.calls = 300 if arguments.quick else 3000
    return arguments


def main(argv=None):
    arguments = parse_arguments(argv)
    if arguments.backend:
        Path(arguments.output).write_text(json.dumps(run_backend(arguments),
                default=str))
        return
    results = bench.per_backend(__file__, arguments.backends.split(','),
        ['--agents', str(arguments.agents), '--calls', str(arguments.calls)])
    bench.write('peak_500_agents' + ('_quick' if arguments.quick else ''), {
            'benchmark': 'peak_500_agents',
            'goal': '3,000 calls in 15 min (PBX time), 500 agents, no loss',
            'quick': arguments.quick, 'machine': bench.machine(),
            'results': results})


if __name__ == '__main__':
    main()
