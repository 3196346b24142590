#!/usr/bin/env bash
# Runs every benchmark; each prints its figures and writes bench/results/.
# QUICK=1 runs the small sizes (minutes); the default sizes follow the issues
# (10^5-10^6 parties) and take hours on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [ "${QUICK:-0}" = 1 ]; then
    $PY bench/caller_lookup.py --sizes 20000 --lookups 500
    $PY bench/sla_pass.py --size 20000
    $PY bench/ticket_create.py --calls 50 --batch 200
    $PY bench/bridge_checkpoint.py --quick
    for b in routing_decision event_ingest peak_500_agents; do
        $PY bench/$b.py --quick
    done
else
    $PY bench/caller_lookup.py
    $PY bench/sla_pass.py
    $PY bench/sla_pass.py --backend postgresql --size 1000000
    $PY bench/ticket_create.py
    $PY bench/bridge_checkpoint.py
    for b in routing_decision event_ingest peak_500_agents; do
        $PY bench/$b.py
    done
fi
$PY bench/screen_pop.py
