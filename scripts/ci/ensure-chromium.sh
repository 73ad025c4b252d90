#!/usr/bin/env bash
# A headless Chromium for the live-reload and proxy tests (scripts/tests/test_live_reload.py,
# scripts/tests/docker/test_proxy.py), and NSS's certutil, which makes it trust the proxy's CA, from
# Debian's packages where they are missing. Idempotent: a machine that has them changes nothing.
set -euo pipefail

missing=()
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
        && ! command -v google-chrome >/dev/null 2>&1; then
    missing+=(chromium)
fi
command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
[ ${#missing[@]} -eq 0 ] && exit 0
printf '[ensure-chromium] installing %s from Debian'"'"'s packages\n' "${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
