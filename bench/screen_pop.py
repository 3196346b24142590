"""Screen-pop delay: publish → customer form visible in the agent's sao.

    CC_DATABASE_URI=postgresql://… .venv/bin/python bench/screen_pop.py \
        [--pops 160] [--gap 2] [--template DB]
        [--busy [--load-warmup 120] [--load-speed 1]]

A throw-away database (or a clone of ``--template``) is served by a real
trytond; headless Chromium logs in as the demo agent. Each pop is one call
stored through ``cc.call.agent_connected`` (what the bridge does at
AgentConnect) for a customer with one match. The delay runs from just
before that RPC (the publish is committed inside it) to the moment
custom.js sees the form showing the record (its name entry shows the
customer's name; same machine, same clock).
The first pop after the server starts is a warm-up and is not counted.
Also reported: the time from the commit (the RPC's return) to the form,
the RPC's own time and the stages in the browser. Four kinds of pop, a
quarter each. With no earlier pop's form open (the tab is closed after
each pop): the caller goes into the customer form custom.js prepared
beforehand (``new_tab``), or, alternating with those, into a form built
when the pop arrives (``new_tab_built_at_pop``, the baseline:
``ccScreenPop.prepare`` off). With the earlier pop's form left open (what
an agent taking call after call sees): the caller goes into the prepared
form and the earlier one is closed (``earlier_form_open``), or,
alternating with those, is loaded into the earlier form
(``earlier_form_reused``, what custom.js does when calls come too fast
for a prepared form). Pops are ``--gap`` seconds apart (an agent's calls
are minutes apart), and none comes while custom.js is still preparing its
form. Goal: p95 ≤ 300 ms. Writes
bench/results/screen_pop.json (PostgreSQL) or screen_pop_sqlite.json.

``--busy`` (PostgreSQL): the same pops while the server carries a contact
center's peak, with the browser on a CPU of its own as on an agent's PC.
The peak is bench/peak_500_agents.py's (500 agents, 3,000 calls in
15 minutes, its 20,000 customers) at its real pace (``--load-speed 1``;
2 plays it twice as fast): pbxsim and the bridge in a child process, the
router in its own, writing into the database trytond serves. The last
CPU is Chromium's (and its Playwright driver's); trytond, the load, the
router and this process (whose RPC stands for the bridge's) get the
others; PostgreSQL, a shared cluster, is not pinned. Pops start
``--load-warmup`` seconds after the load flows (calls in progress build
up over a handle time). Also recorded, while the pops were measured:
the CPUs allowed to and the CPU share used by each role (PostgreSQL's
backends of the database included), each CPU's busy share, the load
averages; and the load's own figures (calls and AMI events per second,
calls stored). Writes bench/results/screen_pop_busy.json.
"""
import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'bench'))

import peak_500_agents as peak  # noqa: E402
import telephony_bench as bench  # noqa: E402
from ccsuite import browser, config, testing  # noqa: E402


CALLERS = 10


def percentile(values, share):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index]


def connect(admin, interface, number):
    uniqueid = f'bench-{time.time():.6f}-{random.random():.6f}'
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    (call_id,) = admin('model.cc.call.agent_connected', [{
                'uniqueid': uniqueid, 'linkedid': uniqueid,
                'direction': 'inbound', 'caller_raw': number,
                'dnis': '95588', 'enter_time': now, 'queue': None,
                'interface': interface, 'answer_time': now,
                'wait_seconds': 3.0, 'ivr_path': '1>2'}], admin.context)
    return call_id


def prepare(server, kind):
    admin = server.json_rpc().login('admin', testing.ADMIN_PASSWORD)
    agent = server.json_rpc().login('agent', 'agent-demo')
    interface = 'PJSIP/6001'
    if not admin('model.cc.agent.search', [('user', '=', agent.user_id)],
            0, 1, None, admin.context):
        admin('model.cc.agent.create', [{'user': agent.user_id,
                    'interface': interface}], admin.context)
    else:
        (found,) = admin('model.cc.agent.search_read',
            [('user', '=', agent.user_id)], 0, 1, None, ['interface'],
            admin.context)
        interface = found['interface']
    # Callers take turns, so that no pop shows the record of the last one.
    numbers = ['139' + ''.join(random.choices('0123456789', k=8))
        for _ in range(CALLERS)]
    admin('model.party.party.create', [{'name': f'基准{number[-4:]}-{i}',
                'contact_mechanisms': [('create', [
                            {'type': 'mobile', 'value': number}])]}
            for number in numbers
            for i in range(1 if kind == 'one' else 2)], admin.context)
    return admin, interface, numbers


def login(page, server):
    browser.sao_login(page, server, 'agent', 'agent-demo')
    page.wait_for_function('window.ccScreenPop && window.ccScreenPop.mode')


def one_pop(page, admin, interface, number, timeout_ms, close_tab=True):
    """The stages of one pop in ms, or None if not shown. ``close_tab``:
    close the form afterwards, so that the next pop builds a new one."""
    started = time.time() * 1000
    call_id = connect(admin, interface, number)
    committed = time.time() * 1000
    try:
        page.wait_for_function(f'window.ccScreenPop.shown[{call_id}]',
            timeout=timeout_ms, polling='raf')
    except Exception:
        return None
    shown = page.evaluate(f'window.ccScreenPop.shown[{call_id}]')
    if close_tab:
        page.evaluate('Sao.Tab.tabs.close_current()')
    return {
        'publish_to_visible_ms': shown['visible'] - started,
        # From the commit of agent_connected (the NOTIFY goes out at
        # commit): the path the bridge's in-process call takes.
        'commit_to_visible_ms': shown['visible'] - committed,
        'rpc_agent_connected_ms': committed - started,
        'publish_to_received_ms': shown['received'] - started,
        # In the browser: the pop claimed by this tab (see custom.js), sao's
        # tab created, then the record on screen.
        'received_to_claimed_ms': shown['claimed'] - shown['received'],
        'claimed_to_opened_ms': shown['opened'] - shown['claimed'],
        'opened_to_visible_ms': shown['visible'] - shown['opened'],
        }


# Variant: (close the form after the pop, custom.js keeps a form prepared).
VARIANTS = {
    # A new form each pop, into the customer form custom.js built beforehand.
    'new_tab': (True, True),
    # Baseline: a new form each pop, built when the pop arrives (sao's
    # Sao.Tab.create, what custom.js did before it prepared one).
    'new_tab_built_at_pop': (True, False),
    # The previous pop's form left open: the next caller goes into the
    # prepared form, the previous one is closed.
    'earlier_form_open': (False, True),
    # The same without a prepared form: the caller is loaded into the
    # previous pop's form.
    'earlier_form_reused': (False, False),
    }


def one_variant_pop(page, admin, interface, number, variant):
    close_tab, prepare = VARIANTS[variant]
    page.evaluate(f'window.ccScreenPop.prepare = {str(prepare).lower()}')
    return one_pop(page, admin, interface, number, 10000, close_tab)


def run(server, pops, kind, gap, cpus=None, watch=None):
    """``cpus``: Chromium's CPUs (None: all); ``watch``: a context around
    the measured pops (after login and the warm-up pop)."""
    admin, interface, numbers = prepare(server, kind)
    callers = itertools.cycle(numbers)
    with browser.chromium_page(cpus=cpus) as page:
        login(page, server)
        mode = page.evaluate('window.ccScreenPop.mode')
        time.sleep(gap)
        warm = None
        for _ in range(5):  # The bus listener may not be up yet.
            warm = one_pop(page, admin, interface, next(callers), 5000)
            if warm:
                break
        with watch or contextlib.nullcontext():
            stages, lost = measure_pops(
                page, admin, interface, callers, pops, gap)
    return mode, warm, stages, lost


def measure_pops(page, admin, interface, callers, pops, gap):
    stages, lost = {variant: [] for variant in VARIANTS}, 0
    # Variants alternate in pairs, so that the load of the machine weighs
    # on both of a pair alike.
    # The pop before the first pair with an earlier form open leaves its
    # form open, unmeasured.
    order = ['new_tab', 'new_tab_built_at_pop'] * (pops // 4) + [
        None] + ['earlier_form_open', 'earlier_form_reused'] * (pops // 4)
    for variant in order:
        time.sleep(gap)
        # Not while the client prepares its form (after a pop that used
        # it): that would weigh on the next pop, whatever its variant.
        page.wait_for_function('''() => {
            const spare = window.ccScreenPop.spare;
            return spare && spare.tab.view_prm.state() === 'resolved';
        }''', timeout=10000)
        result = one_variant_pop(page, admin, interface, next(callers),
            variant or 'earlier_form_open')
        if variant is None:
            continue
        if result is None:
            lost += 1
            continue
        stages[variant].append(result)
    return stages, lost


def summary(values):
    return {'p50': round(statistics.median(values), 1),
        'p95': round(percentile(values, 0.95), 1),
        'max': round(max(values), 1)}


def measure_quiet(name, arguments):
    with testing.Server(name) as server:
        load_before = os.getloadavg()[0]
        measured = run(server, arguments.pops, arguments.kind, arguments.gap)
    # Other processes on the machine inflate every figure.
    return report(arguments, *measured, {'load_average_1min': [
                round(load_before, 2), round(os.getloadavg()[0], 2)]})


def report(arguments, mode, warm, stages, lost, machine):
    return {
        'benchmark': 'screen_pop',
        'backend': 'postgresql' if config.database_uri() else 'sqlite',
        'delivery': mode,
        'pops': arguments.pops,
        'gap_seconds': arguments.gap,
        'opens': {'one': 'customer form', 'several': 'chooser list'}[
            arguments.kind],
        'shown': sum(map(len, stages.values())),
        'lost': lost,
        'first_pop_ms': round(warm['publish_to_visible_ms'], 1)
        if warm else None,
        **{variant: {stage: summary([s[stage] for s in measured])
                for stage in measured[0]}
            for variant, measured in stages.items()},
        'goal_p95_ms': 300,
        **machine,
        'cpus': os.cpu_count(),
        'measured_at': dt.datetime.now(dt.timezone.utc).isoformat(
            timespec='seconds'),
        }


# --- --busy: the server at a contact center's peak ---------------------------

# peak_500_agents.py's center: its default agents and calls, its customers.
PEAK = peak.parse_arguments([])
PEAK_PARTIES = 20000
LOAD_FLOWING = 'peak load flowing'


def measure_busy(name, arguments):
    server_cpus, browser_cpus = split_cpus()
    # What this process starts from now on (trytond, the load, the
    # router) inherits these CPUs; Chromium gets its own.
    os.sched_setaffinity(0, server_cpus)
    with PeakLoad(name, arguments.load_speed) as load:
        load.wait_flowing()
        with testing.Server(name) as server:
            load.wait_warm(arguments.load_warmup)
            watch = Watch(name, server.process.pid, load.process.pid)
            measured = run(server, arguments.pops, arguments.kind,
                arguments.gap, browser_cpus, watch)
            flowing_to_the_end = load.running()
        figures = load.stop()
    return report(arguments, *measured, {'busy': {
                **watch.result(), 'load_warmup_seconds': arguments.load_warmup,
                'load_flowing_until_the_last_pop': flowing_to_the_end,
                'load': figures}})


def split_cpus():
    """(server CPUs, browser CPUs): the last CPU for the browser alone, as
    on an agent's own PC; the others for the server and the load."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        raise SystemExit('--busy needs two CPUs: one for the browser')
    return set(available[:-1]), {available[-1]}


class PeakLoad:
    """The peak flowing into database ``name`` from a child process of
    this script (``--serve-peak-load``), ``speed`` PBX seconds per second,
    until ``stop``."""

    def __init__(self, name, speed):
        self.output = Path(tempfile.gettempdir()) / (
            f'screen-pop-load-{os.getpid()}.json')
        self.process = subprocess.Popen([sys.executable, __file__,
                '--serve-peak-load', name, '--load-speed', str(speed),
                '--load-output', str(self.output)],
            stdout=subprocess.PIPE, text=True)
        self.flowing_since = None

    def wait_flowing(self):
        "Once the center is loaded and the bridge follows the PBX."
        for line in self.process.stdout:
            print(line, end='', flush=True)
            if line.strip() == LOAD_FLOWING:
                self.flowing_since = time.monotonic()
                return
        raise RuntimeError(
            f'the peak load exited ({self.process.wait()}) before flowing')

    def wait_warm(self, seconds):
        time.sleep(max(0, self.flowing_since + seconds - time.monotonic()))

    def running(self):
        return self.process.poll() is None

    def stop(self):
        "The load's own figures, once it has stored what it holds."
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(600):
            raise RuntimeError(f'the peak load failed '
                f'({self.process.returncode}): see its error above')
        return json.loads(self.output.read_text())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.running():  # The benchmark failed: stop the load cleanly.
            self.process.terminate()
            try:
                self.process.wait(180)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.output.unlink(missing_ok=True)


def serve_peak_load(arguments):
    """The child of PeakLoad: peak_500_agents.py's center in the database,
    then its peak at ``--load-speed`` until the last arrival or SIGTERM;
    writes the load's figures to ``--load-output``."""
    # Until the peak plays (it handles SIGTERM then), SIGTERM must still
    # let the router be stopped.
    signal.signal(signal.SIGTERM,
        lambda *_: sys.exit('peak load stopped before it flowed'))
    name = arguments.serve_peak_load
    numbers = prepare_center(name)
    from routing_decision import RouterProcess
    from trytond.modules.cc_telephony.bridge import Database
    database = Database(name)
    pbx, = database.pbxs('demo-sim')
    pbx['port'], pbx['agi_port'] = testing.free_port(), testing.free_port()
    router = RouterProcess(name, pbx['agi_port'])
    try:
        played = asyncio.run(play_peak(database, pbx, numbers,
                arguments.load_speed))
        router_cpus = sorted(os.sched_getaffinity(router.process.pid))
    finally:
        router_exit = router.stop()
    # The router stores its decisions from a writer thread: all of them
    # are in once it has exited.
    figures = {**load_figures(name, arguments.load_speed, **played),
        'router_cpus': router_cpus, 'router_exit_code': router_exit}
    Path(arguments.load_output).write_text(json.dumps(figures, default=str))


def prepare_center(name):
    "peak_500_agents.py's center in database ``name``: customers' numbers."
    from ccsuite import demo_telephony
    numbers = bench.load_parties(name, PEAK_PARTIES)
    demo_telephony.setup(name)
    peak.create_agents(name, PEAK.agents)
    return numbers


async def play_peak(database, pbx, numbers, speed):
    start = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None,
        microsecond=0)
    sim = peak.peak_simulator(PEAK.agents, PEAK.calls, numbers, start,
        pbx['agi_port'])
    arrivals = Arrivals(sim)
    with tempfile.TemporaryDirectory() as spool_dir:
        chain = bench.BridgedSimulator(sim, pbx, database, spool_dir,
            clock_speed=speed)
        counters = peak.Counters(sim, chain.link)
        await chain.start()
        wall_seconds = await play_until_stopped(sim, start, speed)
        in_progress = len(sim.callers)
        await chain.drain()
        await chain.close()
        backlog = chain.link.sink.backlog  # Its spool goes with spool_dir.
    return {'start': start, 'wall_seconds': wall_seconds,
        'arrived': arrivals.count, 'counters': counters,
        'in_progress': in_progress, 'backlog': backlog}


async def play_until_stopped(sim, start, speed):
    "Wall seconds played: until the peak's last arrival or SIGTERM."
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    print(LOAD_FLOWING, flush=True)
    started = time.monotonic()
    playing = asyncio.ensure_future(sim.run(speed,
            start + dt.timedelta(seconds=peak.PEAK_SECONDS)))
    waiting = asyncio.ensure_future(stopped.wait())
    await asyncio.wait([playing, waiting],
        return_when=asyncio.FIRST_COMPLETED)
    for task in (playing, waiting):
        task.cancel()
    return time.monotonic() - started


class Arrivals:
    "Calls the trunk delivered: each one's first channel."

    def __init__(self, sim):
        self.count = 0
        sim.listeners.append(self._on_event)

    def _on_event(self, event):
        if event['Event'] == 'Newchannel' and event.get('Context') == (
                'from-pstn') and event['Channel'].startswith('PJSIP/trunk'):
            self.count += 1


def load_figures(name, speed, start, wall_seconds, arrived, counters,
        in_progress, backlog):
    stored = peak.stored(name, start, counters)

    def per_second(count):
        return round(count / wall_seconds, 2)
    return {
        'agents': PEAK.agents,
        'calls_planned': PEAK.calls, 'over_seconds': peak.PEAK_SECONDS,
        'pbx_seconds_per_second': speed,
        'planned_calls_per_s': round(
            PEAK.calls / peak.PEAK_SECONDS * speed, 2),
        'cpus': sorted(os.sched_getaffinity(0)),
        'wall_seconds': round(wall_seconds, 1),
        'calls_arrived': arrived, 'calls_arrived_per_s': per_second(arrived),
        'ami_events': counters.events,
        'ami_events_per_s': per_second(counters.events),
        'calls_completed_by_pbx': counters.pbx_completed,
        'calls_in_progress_at_stop': in_progress,
        'call_facts_emitted': len(counters.calls),
        'intervals_emitted': len(counters.intervals),
        **stored,
        # calls_in_db counts the pops' own calls too.
        'calls_stored_per_s': per_second(stored['calls_in_db']),
        'bridge_backlog_at_stop': backlog,
        }


class Watch:
    """How busy the machine was while the pops were measured: load
    averages, each CPU's busy share (every process on the machine, other
    users' too), and by role the CPUs allowed to and the CPU time used by
    the processes this benchmark started and of PostgreSQL's backends
    serving the database (not pinned: a shared cluster)."""

    def __init__(self, name, server_pid, load_pid):
        self.name = name
        self.server_pid, self.load_pid = server_pid, load_pid

    def roles(self):
        "{role: pids}"
        tree = children_by_parent()
        server = [self.server_pid, *descendants(self.server_pid, tree)]
        router = descendants(self.load_pid, tree)
        ours = set(descendants(os.getpid(), tree))
        return {'harness (its RPC stands for the bridge)': [os.getpid()],
            'trytond': server,
            'load: pbxsim and bridge': [self.load_pid],
            'load: router': router,
            'chromium and its playwright driver': sorted(
                ours - set(server) - set(router) - {self.load_pid}),
            'postgresql backends of the database': postgresql_backends(
                self.name)}

    def sample(self):
        return {'at': time.monotonic(), 'load_average': os.getloadavg(),
            'cpu_ticks': cpu_ticks(),
            'roles': {role: {pid: cpu_seconds(pid) for pid in pids}
                for role, pids in self.roles().items()}}

    def __enter__(self):
        self.before = self.sample()
        return self

    def __exit__(self, *exc):
        self.after = self.sample()
        self.cpus = {role: allowed_cpus(pids)
            for role, pids in self.roles().items()}

    def result(self):
        before, after = self.before, self.after
        seconds = after['at'] - before['at']
        return {'window_seconds': round(seconds, 1),
            'load_average': {'before': rounded(before['load_average']),
                'after': rounded(after['load_average'])},
            'cpu_busy_share': {cpu: round(
                    (busy - before['cpu_ticks'][cpu][0])
                    / (total - before['cpu_ticks'][cpu][1]), 2)
                for cpu, (busy, total) in after['cpu_ticks'].items()},
            # CPU seconds per second: 1.0 is one CPU's whole time.
            'processes': {role: {'cpus': self.cpus[role],
                    'cpu_share': round(sum(
                            used - before['roles'][role].get(pid, 0)
                            for pid, used in pids.items()) / seconds, 2)}
                for role, pids in after['roles'].items()}}


def postgresql_backends(name):
    import psycopg

    from ccsuite import database
    with psycopg.connect(database._pg_dsn(config.database_uri(), name),
            autocommit=True) as connection:
        return [pid for pid, in connection.execute(
                'SELECT pid FROM pg_stat_activity WHERE datname = %s '
                'AND pid <> pg_backend_pid()', (name,))]


def rounded(values):
    return [round(value, 2) for value in values]


def children_by_parent():
    "{parent pid: [child pids]} of every process now."
    tree = {}
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / 'stat').read_text()
            except OSError:  # It ended meanwhile.
                continue
            parent = int(stat.rsplit(')', 1)[1].split()[1])
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(pid, tree):
    found, parents = [], [pid]
    while parents:
        children = tree.get(parents.pop(), [])
        found += children
        parents += children
    return found


def cpu_seconds(pid):
    "User and system CPU time of a process (all its threads) so far."
    try:
        fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1]
    except OSError:
        return 0.0
    utime, stime = fields.split()[11:13]
    return (int(utime) + int(stime)) / os.sysconf('SC_CLK_TCK')


def cpu_ticks():
    "{cpuN: (busy ticks, all ticks)} since boot."
    ticks = {}
    for line in Path('/proc/stat').read_text().splitlines():
        name, *counts = line.split()
        if name.startswith('cpu') and name != 'cpu':
            counts = [int(count) for count in counts[:8]]
            idle = counts[3] + counts[4]  # idle, iowait
            ticks[name] = (sum(counts) - idle, sum(counts))
    return ticks


def allowed_cpus(pids):
    cpus = set()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            cpus |= os.sched_getaffinity(pid)
    return sorted(cpus)


# --- command line -------------------------------------------------------------

def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--pops', type=int, default=160,
        help='pops measured, a quarter in each variant')
    parser.add_argument('--kind', choices=['one', 'several'], default='one',
        help='one match (customer form) or several (chooser list)')
    parser.add_argument('--gap', type=float, default=2.0,
        help='seconds between a pop shown and the next call (an agent\'s '
        'calls are minutes apart; the client prepares its next form '
        'meanwhile)')
    parser.add_argument('--template', default=None,
        help='existing database (not served) to clone instead of building')
    parser.add_argument('--busy', action='store_true',
        help='while the server carries a 500-agent peak, the browser on a '
        'CPU of its own (PostgreSQL)')
    parser.add_argument('--load-warmup', type=float, default=120,
        help='with --busy: seconds of load before the pops (calls in '
        'progress build up over a handle time)')
    parser.add_argument('--load-speed', type=float, default=1.0,
        help='with --busy: PBX seconds per second (1: the peak\'s real '
        'pace, 3.3 calls/s; 2: twice that)')
    parser.add_argument('--serve-peak-load', metavar='DATABASE',
        help=argparse.SUPPRESS)
    parser.add_argument('--load-output', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    if arguments.serve_peak_load:
        serve_peak_load(arguments)
        return
    if arguments.busy and not config.database_uri():
        raise SystemExit('--busy needs PostgreSQL (CC_DATABASE_URI): the '
            'bridge and the bus')
    for name in ('custom.js', 'custom.css'):
        shutil.copy(ROOT / 'web' / name, ROOT / 'var' / 'sao' / name)
    if arguments.template:
        template = testing.TestDatabase(arguments.template)
    else:
        template = testing.TestDatabase(
            testing.unique_database_name('cc_bench_tpl'),
            modules=['cc_base', 'cc_telephony']).create()
    database = template.clone(testing.unique_database_name('cc_bench'))
    try:
        result = (measure_busy if arguments.busy else measure_quiet)(
            database.name, arguments)
    finally:
        database.drop()
        if not arguments.template:
            template.drop()
    print(json.dumps(result, indent=2))
    write(result, arguments.busy)


def write(result, busy):
    out = ROOT / 'bench' / 'results'
    out.mkdir(parents=True, exist_ok=True)
    if busy:
        name = 'screen_pop_busy.json'
    elif result['backend'] == 'postgresql':
        name = 'screen_pop.json'
    else:
        name = 'screen_pop_sqlite.json'
    (out / name).write_text(json.dumps(result, indent=2) + '\n')


if __name__ == '__main__':
    main()
