"""SLA cron pass over many open tickets: indexed next-deadline vs scan-all.

    .venv/bin/python bench/sla_pass.py [--size 20000] [--due 0.01]
        [--backend sqlite|postgresql] [--rpc 200]

One database with cc_ticket; ``--size`` open tickets, each with a running
resolution timer (a running first-response timer on half of them), loaded
with plain SQL, their deadlines computed by the SLA engine on the standard
Chinese business calendar. ``--due`` of the timers have a next deadline that
has come. In the same run, each timed in a transaction that is rolled back so
both see the same data:

* indexed: ``cc.ticket.sla.evaluate`` (what the cron runs) -- reads only the
  timers whose ``next_deadline`` has come through the partial index, then
  evaluates and escalates them;
* baseline: scan every running timer, rebuild its clock, compute its status
  and evaluate those whose status changed (what a cron without the index
  would do).

``--rpc N`` also starts a trytond server and times N ticket creations over
JSON-RPC (``cc.ticket.create_from_partner``, one call each).

10^6 tickets on PostgreSQL (the issue's goal: <= 2 s per pass)::

    URI=$(scripts/postgres.sh)
    CC_DATABASE_URI=$URI .venv/bin/python bench/sla_pass.py \\
        --backend postgresql --size 1000000

(loading 10^6 tickets and 1.5 x 10^6 timers takes a few minutes.)
Results go to bench/results/sla_pass.json.
"""
import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ccsuite import config, database, session, testing  # noqa: E402

RESULTS = ROOT / 'bench' / 'results' / 'sla_pass.json'
GOAL = 'pass <= 2 s over 10^6 open tickets on PostgreSQL'


class Rollback(Exception):
    pass


def load(db_name, size, due_share, now, backend):
    "Insert tickets and timers with plain SQL; returns seconds taken."
    from trytond.modules.cc_base.sla_clock import BusinessCalendar, SLAClock
    calendar = BusinessCalendar.standard()
    rng = random.Random(size)
    placeholder = '?' if backend == 'sqlite' else '%s'
    start = time.perf_counter()
    with session.transaction(db_name) as pool:
        from trytond.transaction import Transaction
        Type = pool.get('cc.ticket.type')
        type_, = Type.create([{'name': 'Bench', 'code': 'bench'}])
        cursor = Transaction().connection.cursor()
        cursor.execute('SELECT COALESCE(MAX(id), 0) FROM cc_ticket')
        first_id = cursor.fetchone()[0] + 1
        ticket_sql = (
            'INSERT INTO cc_ticket (id, number, subject, type, channel, '
            'priority, state, sla_status, reopen_count, second_contact, '
            'create_date, create_uid) VALUES (%s)' % ', '.join(
                [placeholder] * 12))
        timer_sql = (
            'INSERT INTO cc_ticket_sla (ticket, kind, target_minutes, '
            'warning_share, running_since, stopped, warning_date, deadline, '
            'next_deadline, status, escalation_level, create_date, '
            'create_uid) VALUES (%s)' % ', '.join([placeholder] * 13))
        tickets, timers = [], []
        for n in range(size):
            ticket_id = first_id + n
            due = rng.random() < due_share
            kinds = [('resolution', 540 * 3)]
            if n % 2:
                kinds.append(('first_response', 60))
            for kind, target in kinds:
                clock = SLAClock(calendar, target)
                if due:
                    # Started long enough ago for the warning to have come.
                    started = calendar.add_business_minutes(
                        now - dt.timedelta(days=40), rng.randrange(60))
                else:
                    started = now - dt.timedelta(
                        minutes=rng.randrange(0, 30))
                clock.start(started)
                warning = clock.warning_at()
                timers.append((ticket_id, kind, target, 0.8, started, False,
                        warning, clock.deadline(), warning, 'on_time', 0,
                        started, 0))
            tickets.append((ticket_id, f'B{ticket_id:08d}', 'Bench ticket',
                    type_.id, 'phone', '1', 'in_progress', 'on_time', 0,
                    False, now, 0))
            if len(tickets) >= 20000:
                cursor.executemany(ticket_sql, tickets)
                cursor.executemany(timer_sql, timers)
                tickets, timers = [], []
        cursor.executemany(ticket_sql, tickets)
        cursor.executemany(timer_sql, timers)
        if backend == 'postgresql':
            cursor.execute("SELECT setval('cc_ticket_id_seq', %s)",
                (first_id + size,))
    with session.transaction(db_name):
        from trytond.transaction import Transaction
        Transaction().connection.cursor().execute('ANALYZE')
    return time.perf_counter() - start


def timed(db_name, func, now):
    "Run func(pool, now) in a transaction rolled back afterwards."
    result = {}
    try:
        with session.transaction(db_name) as pool:
            start = time.perf_counter()
            result['evaluated'] = func(pool, now)
            result['seconds'] = round(time.perf_counter() - start, 3)
            raise Rollback
    except Rollback:
        pass
    return result


def indexed_pass(pool, now):
    return pool.get('cc.ticket.sla').evaluate(now=now)


def scan_all_pass(pool, now):
    Timer = pool.get('cc.ticket.sla')
    timers = Timer.search([
            ('stopped', '=', False),
            ('running_since', '!=', None),
            ])
    changed = [t for t in timers if t.clock().status(now) != t.status]
    Timer.evaluate_timers(changed, now)
    return len(changed)


def query_plan(db_name, backend, now):
    with session.transaction(db_name, readonly=True) as pool:
        from trytond.transaction import Transaction
        Timer = pool.get('cc.ticket.sla')
        table = Timer.__table__()
        query = table.select(table.id, where=table.next_deadline <= now)
        sql, params = tuple(query)
        cursor = Transaction().connection.cursor()
        explain = 'EXPLAIN QUERY PLAN ' if backend == 'sqlite' else 'EXPLAIN '
        cursor.execute(explain + sql, params)
        return [' '.join(map(str, row)) for row in cursor]


def rpc_rate(db_name, calls):
    with testing.Server(db_name) as server:
        rpc = server.json_rpc().login('admin', testing.ADMIN_PASSWORD)
        start = time.perf_counter()
        for n in range(calls):
            rpc('model.cc.ticket.create_from_partner', {
                    'type': 'bench', 'subject': f'RPC {n}',
                    'contact_number': f'1380013{n % 10000:04d}'}, {})
        elapsed = time.perf_counter() - start
    return {'calls': calls, 'seconds': round(elapsed, 2),
        'tickets_per_second': round(calls / elapsed, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', type=int, default=20000)
    parser.add_argument('--due', type=float, default=0.01)
    parser.add_argument('--backend', choices=['sqlite', 'postgresql'],
        default='sqlite')
    parser.add_argument('--rpc', type=int, default=0,
        help="ticket creations over JSON-RPC to time (0: skip)")
    args = parser.parse_args()
    if args.backend == 'postgresql':
        if not os.environ.get('CC_DATABASE_URI'):
            os.environ['CC_DATABASE_URI'] = subprocess.run(
                [str(ROOT / 'scripts' / 'postgres.sh')], capture_output=True,
                text=True, check=True).stdout.strip()
    else:
        os.environ.pop('CC_DATABASE_URI', None)
    db_name = f'bench_sla_{args.size}'
    database.drop(db_name)
    database.initialise(db_name, testing.ADMIN_PASSWORD, ['cc_ticket'])
    # A Tuesday at 10:00 in Shanghai: inside opening hours.
    now = dt.datetime(2026, 6, 16, 2, 0)
    load_seconds = load(db_name, args.size, args.due, now, args.backend)
    plan = query_plan(db_name, args.backend, now)
    indexed = timed(db_name, indexed_pass, now)
    baseline = timed(db_name, scan_all_pass, now)
    result = {
        'backend': args.backend, 'open_tickets': args.size,
        'due_share': args.due, 'load_seconds': round(load_seconds, 1),
        'indexed': indexed, 'scan_all_baseline': baseline,
        'speedup': round(baseline['seconds'] / max(indexed['seconds'], 1e-6),
            1),
        'due_query_plan': plan,
        }
    print(f"{args.backend} {args.size} open tickets, {args.due:.1%} due: "
        f"indexed pass {indexed['seconds']} s ({indexed['evaluated']} "
        f"timers) | scan-all {baseline['seconds']} s "
        f"({baseline['evaluated']} changed) | x{result['speedup']}",
        flush=True)
    if args.rpc:
        result['rpc_creation'] = rpc_rate(db_name, args.rpc)
        print(f"ticket creation over JSON-RPC: "
            f"{result['rpc_creation']['tickets_per_second']} tickets/s",
            flush=True)
    database.drop(db_name)
    previous = []
    if RESULTS.exists():
        previous = [r for r in json.loads(RESULTS.read_text())['results']
            if (r['backend'], r['open_tickets']) != (args.backend, args.size)]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
                'benchmark': 'sla_pass', 'goal': GOAL,
                'results': previous + [result]},
            indent=2, ensure_ascii=False, default=str))
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == '__main__':
    main()
