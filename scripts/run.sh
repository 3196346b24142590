#!/usr/bin/env bash
# Serves the web client and the suite's services on the demo database.
# CC_DATABASE_URI=postgresql://… switches to PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
DATABASE=${1:-demo}
eval "$(.venv/bin/python -c 'from ccsuite import config; import shlex
for k, v in config.environ().items():
    if k.startswith("TRYTOND_"): print(f"export {k}={shlex.quote(v)}")')"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
# Services of installed modules (telephony simulator, router, bridge, cron).
for service in scripts/services/*.sh; do
    [ -e "$service" ] || continue
    "$service" "$DATABASE" &
    pids+=($!)
done
.venv/bin/trytond-cron -c trytond.conf -d "$DATABASE" &
pids+=($!)
echo "Web client: http://${TRYTOND_WEB__LISTEN}/ (database $DATABASE; users in README.md)"
.venv/bin/trytond -c trytond.conf -d "$DATABASE"
