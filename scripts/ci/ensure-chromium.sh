#!/usr/bin/env bash
# A headless Chromium for the live-reload tests (scripts/tests/test_live_reload.py), from Debian's
# packages where none is installed. Idempotent: a machine with chromium or Chrome changes nothing.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
        || command -v google-chrome >/dev/null 2>&1; then
    exit 0
fi
printf '[ensure-chromium] installing chromium from Debian'"'"'s packages\n' >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
