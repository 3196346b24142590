"""Demo PBX: the PBX simulator (a development tool, not a PBX) playing the
demo contact center in real time, so that `make run` shows calls flowing.

    python -m ccsuite.demo_pbx --database demo [--traffic ccsuite/demo_pbx.json]
        [--speed 1] [--duration SECONDS] [--rate PER_MINUTE]

Queues, agents (interface, queues, penalties) and dialled numbers are read
from the database (see ccsuite.demo_telephony), so the simulator matches
what the router and the bridge know. Calls arrive as a Poisson process on
the dialled numbers; most callers are demo customers (their numbers as a
trunk delivers them, e.g. 13812345678 or 02161234567), the rest unknown
numbers. Every call asks the router over FastAGI where to go, like
Asterisk's dialplan. SIGTERM or SIGINT stops it cleanly.
"""
import argparse
import asyncio
import datetime as dt
import json
import logging
import random
import signal
from pathlib import Path

from . import session

TRAFFIC_FILE = Path(__file__).with_name('demo_pbx.json')
SIM_STRATEGIES = {'skills_weighted': 'linear'}
CALLERS_SAMPLE = 5000

logger = logging.getLogger('ccsuite.demo_pbx')


def trunk_format(e164):
    "+8613812345678 -> 13812345678; +862161234567 -> 02161234567."
    if not e164 or not e164.startswith('+86'):
        return None
    national = e164[3:]
    return national if national.startswith('1') else '0' + national


def read_center(database, pbx_code):
    "PBX, queues, agents, dialled numbers and customer numbers."
    with session.transaction(database, readonly=True) as pool:
        Pbx = pool.get('cc.pbx')
        pbx, = Pbx.search([('code', '=', pbx_code)])
        return {
            'ami': (pbx.ami_host, pbx.ami_port, pbx.ami_username,
                pbx.ami_secret or ''),
            'agi_url': f'agi://{pbx.agi_host}:{pbx.agi_port}/route',
            'queues': _queues(pool),
            'agents': _agents(pool),
            'dnis': {d.number: d.queue.code
                for d in pool.get('cc.dnis').search([])},
            'callers': _customer_numbers(pool),
            }


def _queues(pool):
    return [{
            'name': q.code,
            'strategy': SIM_STRATEGIES.get(q.strategy, q.strategy),
            'wrapuptime': q.wrapup_seconds or 0,
            'max_wait': q.max_wait_seconds or None,
            'overflow': q.overflow_queue.code if q.overflow_queue else None,
            } for q in pool.get('cc.queue').search([])]


def _agents(pool):
    return [{
            'interface': a.interface, 'name': a.rec_name,
            'queues': {m.queue.code: m.penalty for m in a.memberships
                if m.queue.active},
            'wrapup': a.wrapup_seconds,
            } for a in pool.get('cc.agent').search([])]


def _customer_numbers(pool):
    from trytond.transaction import Transaction
    cursor = Transaction().connection.cursor()
    cursor.execute('SELECT value_compact FROM party_contact_mechanism '
        "WHERE type IN ('phone', 'mobile') AND active "
        'ORDER BY id LIMIT %d' % CALLERS_SAMPLE)
    return [n for n in (trunk_format(row[0]) for row in cursor) if n]


def scenario_of(center, traffic, start, duration):
    "The pbxsim scenario (queues and agents, no traffic) of the center."
    for queue in center['queues']:
        queue.update(timeout=traffic.get('ring_timeout', 15),
            retry=traffic.get('retry', 2))
    agents = []
    defaults = traffic.get('agent_defaults', {})
    for agent in center['agents']:
        if not agent['queues']:
            continue
        agents.append({**defaults, 'interface': agent['interface'],
                'name': agent['name'], 'queues': agent['queues'],
                'pauses': _pauses(traffic, agent['interface'], duration)})
    return {'start': start.isoformat(), 'seed': traffic.get('seed'),
        'queues': center['queues'], 'agents': agents}


def _pauses(traffic, interface, duration):
    "The agent's pauses, repeated every ``pause_every`` seconds."
    every = traffic.get('pause_every')
    pauses = []
    for pause in traffic.get('pauses', {}).get(interface, []):
        offset = 0
        while offset + pause['at'] < duration:
            pauses.append({**pause, 'at': offset + pause['at']})
            if not every:
                break
            offset += every
    return pauses


def whole_seconds(plan):
    """Round a CallPlan's times to whole seconds.

    Work-around, reported as a bug of cc_telephony: second fields have
    digits (16, 1) but ingestion stores 3 decimals, so any sub-second
    duration fails validation and the bridge spools it for ever."""
    plan.talk = float(max(1, round(plan.talk)))
    plan.patience = float(max(1, round(plan.patience)))
    plan.holds = [{'at': float(round(hold['at'])),
            'duration': float(max(1, round(hold['duration'])))}
        for hold in plan.holds]
    if plan.transfer:
        plan.transfer = dict(plan.transfer,
            at=float(round(plan.transfer['at'])),
            after=float(max(1, round(plan.transfer['after']))))
    return plan


class Arrivals:
    """Poisson arrivals for ever (or until the simulator stops), each caller
    drawn from the customers' numbers or unknown."""

    def __init__(self, sim, traffic, center, rng):
        from trytond.modules.cc_telephony.pbxsim import scenario
        self.sim, self.traffic, self.rng = sim, traffic['traffic'], rng
        self.scenario = scenario
        self.callers = center['callers']
        self.queue_of = center['dnis']
        weights = self.traffic.get('dnis') or {n: 1 for n in self.queue_of}
        self.dnis = [(n, w) for n, w in weights.items() if n in self.queue_of]
        self.generated = 0

    def start(self):
        self.sim.at(self._gap(), self._arrive)

    def _gap(self):
        gap = self.rng.expovariate(self.traffic['rate_per_minute'] / 60)
        return float(max(1, round(gap)))

    async def _arrive(self):
        self.sim.at(self._gap(), self._arrive)
        plan = whole_seconds(
            self.scenario.random_plan(self.traffic, self.rng))
        plan.caller = self._caller() or plan.caller
        plan.dnis = self.rng.choices([n for n, _ in self.dnis],
            [w for _, w in self.dnis])[0]
        # The dialplan's fallback when the router does not answer.
        plan.queue = self.queue_of[plan.dnis]
        self.generated += 1
        await self.sim.arrive(plan)

    def _caller(self):
        known = self.traffic.get('known_caller_share', 0.85)
        if self.callers and self.rng.random() < known:
            return self.rng.choice(self.callers)
        return None


async def serve(arguments):
    from trytond.modules.cc_telephony.pbxsim import scenario
    from trytond.modules.cc_telephony.pbxsim.server import AMIServer
    traffic = json.loads(Path(arguments.traffic).read_text(encoding='utf-8'))
    if arguments.rate is not None:
        traffic['traffic']['rate_per_minute'] = arguments.rate
    center = read_center(arguments.database, arguments.pbx)
    start = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None,
        microsecond=0)
    duration = arguments.duration or 24 * 3600
    sim = scenario.build(scenario_of(center, traffic, start, duration),
        center['agi_url'])
    arrivals = Arrivals(sim, traffic, center, random.Random())
    arrivals.start()
    host, port, user, secret = center['ami']
    server = AMIServer(sim, {user: secret})
    await server.start(host, port)
    logger.info('PBX simulator (not a PBX): AMI %s:%s, FastAGI %s, '
        '%.1f calls/min, %d known callers', host, port, center['agi_url'],
        traffic['traffic']['rate_per_minute'], len(center['callers']))
    until = sim.now + dt.timedelta(seconds=arguments.duration) if (
        arguments.duration) else None
    try:
        await sim.run(arguments.speed, until)
    finally:
        await server.stop()
        logger.info('PBX simulator stopped after %d calls', arrivals.generated)


async def run_until_signalled(arguments):
    "Serve; SIGTERM and SIGINT cancel the simulator, which then closes AMI."
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await serve(arguments)
    except asyncio.CancelledError:
        pass


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(prog='python -m ccsuite.demo_pbx',
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--database', '-d', default='demo')
    parser.add_argument('--pbx', default='demo-sim',
        help='code of the cc.pbx the simulator plays (default: demo-sim)')
    parser.add_argument('--traffic', default=str(TRAFFIC_FILE),
        help='traffic and agent behaviour (JSON)')
    parser.add_argument('--rate', type=float, default=None,
        help='calls per minute (overrides the traffic file)')
    parser.add_argument('--speed', type=float, default=1.0,
        help='simulated seconds per real second (1: real time)')
    parser.add_argument('--duration', type=float, default=None,
        help='stop after this many simulated seconds (default: never)')
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO,
        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    asyncio.run(run_until_signalled(arguments))


if __name__ == '__main__':
    main()
