#!/usr/bin/env bash
# The whole suite on SQLite, then on PostgreSQL: module tests and scenarios,
# end-to-end tests (server, RPC, browser), translation completeness.
# Installs what it needs (PostgreSQL, Chromium) when missing.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh >/dev/null
scripts/chromium.sh
PG_URI=$(scripts/postgres.sh)
OUT=test-output
rm -rf "$OUT" && mkdir -p "$OUT"
PYTEST=(.venv/bin/python -m pytest -q -p no:cacheprovider -o addopts="")
# Built databases are cached per module list for this run only (the cache
# key ignores code changes, so it never outlives a run).
mkdir -p "$OUT/db-cache"
status=0

run() {  # run NAME ENV... -- PYTEST-ARGS...
    local name=$1; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
    echo "=== $name"
    env "${envs[@]}" "${PYTEST[@]}" --junitxml="$OUT/$name.xml" "$@" || status=1
}

modules=$(ls -d addons/*/tests)
run sqlite-modules DB_NAME=:memory: TRYTOND_DATABASE_URI=sqlite:// \
    DB_CACHE="$PWD/$OUT/db-cache" -- $modules
pg_db=cc_test_modules
.venv/bin/python - "$PG_URI" "$pg_db" <<'PY'
import sys, psycopg
with psycopg.connect(sys.argv[1] + 'postgres', autocommit=True) as c:
    # trytond's DB_CACHE templates (test-<hash>) of earlier runs are stale.
    stale = [n for n, in c.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'test-%'")]
    for name in stale + [sys.argv[2]]:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
PY
run postgresql-modules DB_NAME=$pg_db TRYTOND_DATABASE_URI="$PG_URI" \
    DB_CACHE="$PG_URI" -- $modules
if [ -d tests ] && ls tests/test_*.py >/dev/null 2>&1; then
    run sqlite-e2e CC_TEST_OUTPUT="$OUT" -- tests
    run postgresql-e2e CC_DATABASE_URI="$PG_URI" CC_TEST_OUTPUT="$OUT" -- tests
fi
.venv/bin/python -m ccsuite.junit "$OUT"/*.xml || status=1
exit $status
