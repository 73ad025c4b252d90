#!/usr/bin/env bash
# A redis-server binary on the host, for the task worker's tests (scripts/tests/test_task_worker.py
# starts its own, in memory, on a free loopback port): Debian's package, installed where missing.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
echo "[ensure-redis-server] installing Debian's redis-server" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package starts a system service on 6379; the tests need only the binary.
(systemctl disable --now redis-server || service redis-server stop) >/dev/null 2>&1 || true
command -v redis-server >/dev/null
