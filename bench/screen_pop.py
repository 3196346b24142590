"""Screen-pop delay: publish → customer form visible in the agent's sao.

    CC_DATABASE_URI=postgresql://… .venv/bin/python bench/screen_pop.py \
        [--pops 120] [--gap 2] [--template DB]

A throw-away database (or a clone of ``--template``) is served by a real
trytond; headless Chromium logs in as the demo agent. Each pop is one call
stored through ``cc.call.agent_connected`` (what the bridge does at
AgentConnect) for a customer with one match. The delay runs from just
before that RPC (the publish is committed inside it) to the moment
custom.js sees the form showing the record (its name entry shows the
customer's name; same machine, same clock).
The first pop after the server starts is a warm-up and is not counted.
Also reported: the time from the commit (the RPC's return) to the form,
the RPC's own time and the stages in the browser. A third of the pops open
a new form each (``new_tab``: the tab is closed after each) in the
customer form custom.js prepared beforehand; a third, alternating with
those, build the form when the pop arrives (``new_tab_built_at_pop``, the
baseline: ``ccScreenPop.prepare`` off); in the last third the next caller
is loaded into the form the last pop left open (``reused_tab``, what an
agent taking call after call sees). Pops are ``--gap`` seconds apart
(an agent's calls are minutes apart), and none comes while custom.js is
still preparing its form. Goal: p95 ≤ 300 ms. Writes
bench/results/screen_pop.json (PostgreSQL) or screen_pop_sqlite.json.
"""
import argparse
import datetime as dt
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
    # The next caller loaded into the form the previous pop left open.
    'reused_tab': (False, True),
    }


def one_variant_pop(page, admin, interface, number, variant):
    close_tab, prepare = VARIANTS[variant]
    page.evaluate(f'window.ccScreenPop.prepare = {str(prepare).lower()}')
    return one_pop(page, admin, interface, number, 10000, close_tab)


def run(server, pops, kind, gap):
    admin, interface, numbers = prepare(server, kind)
    callers = itertools.cycle(numbers)
    with browser.chromium_page() as page:
        login(page, server)
        mode = page.evaluate('window.ccScreenPop.mode')
        time.sleep(gap)
        warm = None
        for _ in range(5):  # The bus listener may not be up yet.
            warm = one_pop(page, admin, interface, next(callers), 5000)
            if warm:
                break
        stages, lost = {variant: [] for variant in VARIANTS}, 0
        # The two new-form variants alternate, so that the load of the
        # machine weighs on both alike; then the open form takes callers.
        order = ['new_tab', 'new_tab_built_at_pop'] * (pops // 3) + [
            'reused_tab'] * (pops // 3)
        for variant in order:
            time.sleep(gap)
            # Not while the client prepares its form (after a pop that used
            # it): that would weigh on the next pop, whatever its variant.
            page.wait_for_function('''() => {
                const spare = window.ccScreenPop.spare;
                return spare && spare.tab.view_prm.state() === 'resolved';
            }''', timeout=10000)
            result = one_variant_pop(
                page, admin, interface, next(callers), variant)
            if result is None:
                lost += 1
                continue
            stages[variant].append(result)
    return mode, warm, stages, lost


def summary(values):
    return {'p50': round(statistics.median(values), 1),
        'p95': round(percentile(values, 0.95), 1),
        'max': round(max(values), 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--pops', type=int, default=120,
        help='pops measured, a third in each variant')
    parser.add_argument('--kind', choices=['one', 'several'], default='one',
        help='one match (customer form) or several (chooser list)')
    parser.add_argument('--gap', type=float, default=2.0,
        help='seconds between a pop shown and the next call (an agent\'s '
        'calls are minutes apart; the client prepares its next form '
        'meanwhile)')
    parser.add_argument('--template', default=None,
        help='existing database (not served) to clone instead of building')
    arguments = parser.parse_args(argv)
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
        with testing.Server(database.name) as server:
            load_before = os.getloadavg()[0]
            mode, warm, stages, lost = run(
                server, arguments.pops, arguments.kind, arguments.gap)
    finally:
        database.drop()
        if not arguments.template:
            template.drop()
    result = {
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
        # Other processes on the machine inflate every figure.
        'load_average_1min': [round(load_before, 2),
            round(os.getloadavg()[0], 2)],
        'cpus': os.cpu_count(),
        'measured_at': dt.datetime.now(dt.timezone.utc).isoformat(
            timespec='seconds'),
        }
    print(json.dumps(result, indent=2))
    out = ROOT / 'bench' / 'results'
    out.mkdir(parents=True, exist_ok=True)
    name = 'screen_pop.json' if result['backend'] == 'postgresql' else (
        'screen_pop_sqlite.json')
    (out / name).write_text(json.dumps(result, indent=2) + '\n')


if __name__ == '__main__':
    main()
