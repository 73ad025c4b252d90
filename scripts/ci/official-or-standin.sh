#!/usr/bin/env bash
# Print the name of an image this machine can run for OFFICIAL (python:3.13-slim, postgres:17, caddy:2,
# redis:7):
# the official image if it is here or can be pulled; otherwise (air-gapped runners, and our own
# CI, which reaches no registry) a stand-in built from Debian packages by build-standin-image.sh.
# Users never need this: their Docker pulls the official images.
set -euo pipefail
official=${1:?usage: official-or-standin.sh python:3.13-slim|postgres:17|caddy:2|redis:7}
kind=${official%%:*}
tag=${official#*:}
# python:3.13-slim -> devserver-standin-python:3.13; caddy:2 -> devserver-standin-caddy:2;
# redis:7 -> devserver-standin-redis:7
standin=devserver-standin-$kind:${tag%%-*}

if docker image inspect "$official" >/dev/null 2>&1; then echo "$official"; exit 0; fi
if timeout 60 docker pull -q "$official" >/dev/null 2>&1; then echo "$official"; exit 0; fi
if ! docker image inspect "$standin" >/dev/null 2>&1; then
    echo "[official-or-standin] $official cannot be pulled: building the stand-in $standin" >&2
    bash "$(dirname "$0")/build-standin-image.sh" "$kind" "$standin" >&2
fi
echo "$standin"
