"""What the telephony benchmarks share: databases, percentiles, results.

trytond binds its database backend when it is first imported, so each
benchmark runs one backend per process (``per_backend``)."""
import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ccsuite import config, database, demo, session  # noqa: E402

RESULTS = ROOT / 'bench' / 'results'


def postgres_uri():
    return subprocess.run([str(ROOT / 'scripts' / 'postgres.sh')],
        capture_output=True, text=True, check=True).stdout.strip()


def use_backend(backend):
    "Point this process (before trytond is imported) at the backend."
    if backend == 'postgresql':
        os.environ['CC_DATABASE_URI'] = postgres_uri()
    else:
        os.environ.pop('CC_DATABASE_URI', None)
    config.apply_environ()


def per_backend(script, backends, argv):
    """Run ``script`` once per backend (``--backend``) in a child process;
    return the results each wrote to ``--output``."""
    results = []
    for backend in backends:
        output = RESULTS / f'.{Path(script).stem}-{backend}.json'
        subprocess.run([sys.executable, script, *argv, '--backend', backend,
                '--output', str(output)], check=True)
        results.append(json.loads(output.read_text()))
        output.unlink()
    return results


def create_database(name, parties=0, demo_center=True):
    """A fresh database with cc_telephony, ``parties`` customers loaded
    with plain SQL and the demo center (queues, agents, DNIS, PBX)."""
    database.drop(name)
    database.initialise(name, 'bench-admin', ['cc_telephony'])
    numbers = load_parties(name, parties) if parties else []
    if demo_center:
        from ccsuite import demo_telephony
        demo_telephony.setup(name)
    return numbers


def load_parties(name, size):
    started = time.perf_counter()
    with session.transaction(name) as pool:
        from trytond import backend
        from trytond.transaction import Transaction
        tiers = {t.code: t.id
            for t in pool.get('cc.customer.tier').search([])}
        cursor = Transaction().connection.cursor()
        placeholder = '?' if backend.name == 'sqlite' else '%s'
        numbers = demo.bulk_insert(cursor, size, tiers,
            placeholder=placeholder)
    analyze(name)
    print(f'  {size} parties loaded in {time.perf_counter() - started:.0f} s',
        flush=True)
    return numbers


def analyze(name):
    """Planner statistics, and on PostgreSQL the visibility map too (which
    index-only scans need): what autovacuum gives a production database
    some time after a bulk load. VACUUM cannot run in a transaction."""
    from trytond import backend
    if backend.name != 'postgresql':
        with session.transaction(name):
            from trytond.transaction import Transaction
            Transaction().connection.cursor().execute('ANALYZE')
        return
    database = backend.Database(name).connect()
    connection = database.get_connection(autocommit=True)
    try:
        connection.cursor().execute('VACUUM ANALYZE')
    finally:
        database.put_connection(connection)


def percentile(values, share):
    values = sorted(values)
    if not values:
        return None
    return values[min(len(values) - 1, int(share * len(values)))]


def latency_summary(milliseconds):
    return {
        'requests': len(milliseconds),
        'p50_ms': round(percentile(milliseconds, 0.50), 2),
        'p99_ms': round(percentile(milliseconds, 0.99), 2),
        'max_ms': round(max(milliseconds), 2),
        }


def write(name, payload):
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f'{name}.json'
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False,
            default=str))
    print(f'written {path.relative_to(ROOT)}')


def machine():
    "The machine, and how busy it was (1, 5, 15 min) when the run ended."
    return {'cpus': os.cpu_count(), 'python': sys.version.split()[0],
        'load_average': [round(load, 2) for load in os.getloadavg()]}


def whole_seconds(plan):
    """Round a pbxsim CallPlan's times to whole seconds.

    Work-around, reported: cc.agent.state.duration_seconds and the call's
    and legs' second fields have digits (16, 1), but ingestion stores them
    rounded to 3 decimals; any sub-second duration (real Asterisk
    timestamps have microseconds) fails validation and the bridge spools
    the batch for ever. Whole-second times keep the benchmarks measuring."""
    plan.talk = float(max(1, round(plan.talk)))
    plan.patience = float(max(1, round(plan.patience)))
    plan.holds = [{'at': float(round(h['at'])),
            'duration': float(max(1, round(h['duration'])))}
        for h in plan.holds]
    if plan.transfer:
        plan.transfer = dict(plan.transfer, at=float(round(
                    plan.transfer['at'])), after=float(max(1, round(
                        plan.transfer['after']))))
    return plan


def schedule_arrivals(sim, traffic, times, rng, callers=(), dnis='10086',
        queue='consult'):
    "Calls at the given offsets (whole seconds), plans drawn like pbxsim's."
    from trytond.modules.cc_telephony.pbxsim import scenario
    for at in times:
        plan = whole_seconds(scenario.random_plan(traffic, rng))
        if callers and rng.random() < 0.8:
            plan.caller = rng.choice(callers)
        plan.dnis, plan.queue = dnis, queue
        sim.at(float(round(at)), sim.arrive, plan)


class BridgedSimulator:
    """A pbxsim simulator serving AMI on ``pbx['port']``, followed over TCP
    by the bridge's PbxLink (in this process, so that its facts can be
    counted: wrap ``link.tracker.on_fact`` before ``start``), which writes
    to the database every 0.1 s."""

    def __init__(self, sim, pbx, database, spool_dir, clock_speed):
        from trytond.modules.cc_telephony.bridge import PbxLink
        from trytond.modules.cc_telephony.pbxsim.server import AMIServer
        self.sim, self.pbx = sim, pbx
        self.server = AMIServer(sim, {pbx['username']: pbx['secret']})
        self.executor = concurrent.futures.ThreadPoolExecutor(1)
        self.link = PbxLink(pbx, database, self.executor, spool_dir,
            clock_speed=clock_speed)
        self._flusher = None

    async def start(self):
        await self.server.start('127.0.0.1', self.pbx['port'])
        self.link.client.start()
        await asyncio.wait_for(self.link.client.connected.wait(), 60)
        self._flusher = asyncio.ensure_future(self._flush_loop())

    async def _flush_loop(self):
        while True:
            await asyncio.sleep(0.1)
            await self.link.flush()

    async def drain(self):
        "Stop following the PBX; return once all the bridge holds is stored."
        self._flusher.cancel()
        await self.link.client.close()
        self.link.tracker.flush()
        await self.link.flush()
        await asyncio.get_running_loop().run_in_executor(
            self.executor, lambda: None)

    async def close(self):
        await self.server.stop()
        self.executor.shutdown()
