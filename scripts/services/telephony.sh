#!/usr/bin/env bash
# Telephony services of the demo, started by scripts/run.sh with the database
# name: the PBX simulator (ccsuite.demo_pbx, a development tool, not a PBX),
# the FastAGI router and the AMI bridge of cc_telephony. TERM or INT stops
# the three and waits for them (the bridge writes what it still holds).
# Does nothing when the database has no demo PBX (cc_telephony not active).
set -uo pipefail
cd "$(dirname "$0")/../.."
DATABASE=${1:?usage: scripts/services/telephony.sh DATABASE}
PBX=${CC_DEMO_PBX:-demo-sim}
PY=.venv/bin/python
eval "$($PY -c 'from ccsuite import config; import shlex
for k, v in config.environ().items():
    if k.startswith("TRYTOND_"): print(f"export {k}={shlex.quote(v)}")')"
if ! $PY -m ccsuite.demo_telephony --database "$DATABASE" --has-pbx "$PBX"; then
    echo "telephony: no cc.pbx '$PBX' in $DATABASE, services not started" >&2
    exit 0
fi
mkdir -p var/log var/spool
pids=()
stop() {
    trap - TERM INT
    [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null
    wait
    exit 0
}
trap stop TERM INT
start() {  # start NAME COMMAND...: log to var/log/NAME.log
    local name=$1; shift
    "$@" >>"var/log/$name.log" 2>&1 &
    pids+=($!)
    echo "telephony: $name started (pid $!, log var/log/$name.log)"
}
start router $PY -m trytond.modules.cc_telephony.router -d "$DATABASE" --pbx "$PBX"
start bridge $PY -m trytond.modules.cc_telephony.bridge -d "$DATABASE" --pbx "$PBX" \
    --spool-dir var/spool
start pbxsim $PY -m ccsuite.demo_pbx --database "$DATABASE" --pbx "$PBX"
# Any service ending on its own (a crash) stops the others: run.sh goes on.
wait -n
echo "telephony: a service exited, stopping the others (see var/log/)" >&2
stop
