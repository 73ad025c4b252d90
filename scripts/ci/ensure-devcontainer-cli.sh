#!/usr/bin/env bash
# The Dev Containers CLI (npm's @devcontainers/cli) for the test of .devcontainer/devcontainer.json
# (scripts/tests/docker/test_devcontainer.py), with Node.js from Debian's packages where missing.
# Idempotent: a machine that has `devcontainer` changes nothing.
set -euo pipefail
version=0.89.0

if command -v devcontainer >/dev/null 2>&1; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    printf '[ensure-devcontainer-cli] installing Node.js and npm from Debian'"'"'s packages\n' >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
fi
printf '[ensure-devcontainer-cli] installing @devcontainers/cli@%s from npm\n' "$version" >&2
npm install -g --silent "@devcontainers/cli@$version" >/dev/null
