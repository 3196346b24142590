#!/usr/bin/env bash
# Installs Debian's Chromium and a CJK font for the browser tests.
set -euo pipefail
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi 'Noto Sans CJK'; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
