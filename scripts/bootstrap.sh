#!/usr/bin/env bash
# Creates the virtual environment, installs the suite (editable) and the sao
# 8.0 web client. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SAO_VERSION=8.0.11

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
    .venv/bin/pip install -q --upgrade pip
fi
stamp=.venv/.cc-installed
want="$(cat pyproject.toml setup.py; ls -d addons/*/ 2>/dev/null)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/pip install -q -e '.[test]' >.venv/install.log 2>&1 || { cat .venv/install.log; exit 1; }
    printf '%s' "$want" > "$stamp"
fi

if [ ! -f var/sao/index.html ]; then
    rm -rf var/sao var/sao.tmp && mkdir -p var/sao.tmp
    (cd var/sao.tmp && npm pack --silent "tryton-sao@$SAO_VERSION" >/dev/null \
        && tar xzf tryton-sao-*.tgz)
    mv var/sao.tmp/package var/sao && rm -rf var/sao.tmp
    (cd var/sao && npm install --silent --omit=dev --legacy-peer-deps >/dev/null)
fi
# The suite's client code (screen pop, wallboard refresh) lives in the repo.
cp web/custom.js web/custom.css var/sao/ 2>/dev/null || true
mkdir -p var/db
