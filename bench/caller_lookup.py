"""Caller lookup latency over 10^5 and 10^6 parties, index vs no index.

    .venv/bin/python bench/caller_lookup.py [--sizes 100000,1000000]
        [--backends sqlite,postgresql] [--lookups 2000]

For each backend and size: a fresh database with cc_base, parties loaded
with plain SQL (ccsuite.demo.bulk_insert, numbers normalised like the ORM
does), then ``cc.caller.identify`` timed in process on raw numbers in the
shapes a PBX delivers (hits and misses). The same lookups are then timed
with the equality index on value_compact dropped (baseline), in the same
run. PostgreSQL needs scripts/postgres.sh (its URI is read from it).
Goal (issue 2): p99 <= 5 ms at 10^6 parties on PostgreSQL.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ccsuite import database, demo, session  # noqa: E402

RESULTS = ROOT / 'bench' / 'results' / 'caller_lookup.json'
INDEX_NAME_HINT = 'value_compact'


def pbx_shapes(e164, rng):
    "The number as a PBX may deliver it."
    national = e164[3:]
    shapes = [national, '0' + national if national.startswith('1')
        else '0' + national, e164, '86' + national]
    return rng.choice(shapes)


def percentile(values, share):
    values = sorted(values)
    return values[min(len(values) - 1, int(share * len(values)))]


def time_lookups(db_name, raws):
    with session.transaction(db_name) as pool:
        Caller = pool.get('cc.caller')
        Caller.identify(raws[0])  # warm caches
        timings, found = [], 0
        for raw in raws:
            start = time.perf_counter()
            result = Caller.identify(raw)
            timings.append((time.perf_counter() - start) * 1000)
            found += bool(result['parties'])
    return {
        'lookups': len(raws),
        'found': found,
        'p50_ms': round(percentile(timings, 0.50), 3),
        'p99_ms': round(percentile(timings, 0.99), 3),
        'mean_ms': round(statistics.fmean(timings), 3),
        }


def load(db_name, size, backend):
    with session.transaction(db_name) as pool:
        from trytond.transaction import Transaction
        Tier = pool.get('cc.customer.tier')
        tiers = {t.code: t.id for t in Tier.search([])}
        cursor = Transaction().connection.cursor()
        placeholder = '?' if backend == 'sqlite' else '%s'
        start = time.perf_counter()
        numbers = demo.bulk_insert(cursor, size, tiers,
            placeholder=placeholder)
        elapsed = time.perf_counter() - start
    with session.transaction(db_name) as pool:
        from trytond.transaction import Transaction
        cursor = Transaction().connection.cursor()
        cursor.execute('ANALYZE')
    return numbers, elapsed


def value_compact_indexes(cursor, backend):
    if backend == 'sqlite':
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE "
            "type = 'index' AND tbl_name = 'party_contact_mechanism'")
    else:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE "
            "tablename = 'party_contact_mechanism'")
    # The equality index only: party's own trigram index (GIN over
    # unaccent) cannot serve '=' and stays. PostgreSQL does not quote names.
    return [(name, sql) for name, sql in cursor
        if sql and 'value_compact' in sql.replace('"', '')
        and 'unaccent' not in sql.lower() and 'gin' not in sql.lower()]


def set_index(db_name, backend, indexes, present):
    with session.transaction(db_name):
        from trytond.transaction import Transaction
        cursor = Transaction().connection.cursor()
        for name, sql in indexes:
            cursor.execute(sql if present else f'DROP INDEX "{name}"')
        cursor.execute('ANALYZE')


def run(backend, size, lookups, pg_uri):
    db_name = f'bench_lookup_{size}'
    database.drop(db_name)
    database.initialise(db_name, 'bench-admin', ['cc_base'])
    numbers, load_seconds = load(db_name, size, backend)
    rng = random.Random(size)
    raws = [pbx_shapes(rng.choice(numbers), rng) for _ in range(lookups)]
    raws += [f'1390000{rng.randrange(10000):04d}'
        for _ in range(lookups // 4)]  # mostly unknown callers
    rng.shuffle(raws)
    with session.transaction(db_name):
        from trytond.transaction import Transaction
        indexes = value_compact_indexes(
            Transaction().connection.cursor(), backend)
    indexed = time_lookups(db_name, raws)
    set_index(db_name, backend, indexes, present=False)
    baseline_raws = raws[:max(50, lookups // 20)]
    baseline = time_lookups(db_name, baseline_raws)
    set_index(db_name, backend, indexes, present=True)
    database.drop(db_name)
    return {
        'backend': backend, 'parties': size, 'numbers': len(numbers),
        'load_seconds': round(load_seconds, 1),
        'indexed': indexed, 'no_index_baseline': baseline,
        'speedup_p50': round(baseline['p50_ms'] / indexed['p50_ms'], 1),
        'index_names': [name for name, _ in indexes],
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', default='100000,1000000')
    parser.add_argument('--backends', default='sqlite,postgresql')
    parser.add_argument('--lookups', type=int, default=2000)
    args = parser.parse_args()
    pg_uri = None
    if args.backends == 'postgresql':
        pg_uri = subprocess.run([str(ROOT / 'scripts' / 'postgres.sh')],
            capture_output=True, text=True, check=True).stdout.strip()
        os.environ['CC_DATABASE_URI'] = pg_uri
    elif args.backends == 'sqlite':
        os.environ.pop('CC_DATABASE_URI', None)
    backends = args.backends.split(',')
    if len(backends) > 1:
        # trytond binds its database backend at import: one process each.
        for backend in backends:
            subprocess.run([sys.executable, __file__, '--sizes', args.sizes,
                    '--backends', backend, '--lookups', str(args.lookups)],
                check=True)
        return
    results = []
    for backend in backends:
        for size in map(int, args.sizes.split(',')):
            result = run(backend, size, args.lookups, pg_uri)
            results.append(result)
            print(f"{backend:10} {size:>8} parties: indexed p50 "
                f"{result['indexed']['p50_ms']} ms p99 "
                f"{result['indexed']['p99_ms']} ms | no index p50 "
                f"{result['no_index_baseline']['p50_ms']} ms p99 "
                f"{result['no_index_baseline']['p99_ms']} ms | "
                f"x{result['speedup_p50']} (load {result['load_seconds']} s)",
                flush=True)
    write(results)


def write(results):
    "Keep earlier figures of backends and sizes that were not re-measured."
    measured = {(r['backend'], r['parties']) for r in results}
    if RESULTS.exists():
        results = [r for r in json.loads(RESULTS.read_text())['results']
            if (r['backend'], r['parties']) not in measured] + results
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
                'benchmark': 'caller_lookup',
                'goal': 'p99 <= 5 ms at 10^6 parties on PostgreSQL',
                'results': results}, indent=2, ensure_ascii=False))
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == '__main__':
    main()
