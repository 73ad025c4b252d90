#!/usr/bin/env bash
# Build a stand-in for an official image from Debian trixie packages with debootstrap, for
# machines that reach a Debian mirror (this machine's own apt source) but no container registry.
#   python   -> for python:3.13-slim: `python` on PATH, venv, CA certificates.
#   postgres -> for postgres:17: the official image's contract as docker-compose.yml uses it
#               (POSTGRES_USER/PASSWORD/DB, PGDATA, pg_isready, port 5432), from
#               standin-postgres-entrypoint.sh.
#   caddy    -> for caddy:2: Debian's caddy (2.6) laid out as the official image is (no
#               entrypoint, root, the binary with cap_net_bind_service=+ep, XDG_DATA_HOME=/data,
#               XDG_CONFIG_HOME=/config, the default command running /etc/caddy/Caddyfile).
#   redis    -> for redis:7: Debian's redis-server with the official image's contract as
#               docker-compose.yml uses it (`redis-server` as the command, no config file, every
#               interface on 6379 with protected mode off, the data in /data, the server run as
#               the redis user, redis-cli for the health check), from standin-redis-entrypoint.sh.
set -euo pipefail
kind=${1:?usage: build-standin-image.sh python|postgres|caddy|redis IMAGE_NAME}
name=${2:?usage: build-standin-image.sh python|postgres|caddy|redis IMAGE_NAME}
here=$(dirname "$0")
case $kind in
    python) packages=python3,python3-venv,ca-certificates ;;
    postgres) packages=postgresql-17,ca-certificates ;;
    # libcap2-bin: setcap, to give the binary the file capability the official image's has.
    caddy) packages=caddy,ca-certificates,libcap2-bin ;;
    # redis-tools (a dependency) has redis-cli; tzdata, as the official image has it.
    redis) packages=redis-server,tzdata,ca-certificates ;;
    *) echo "build-standin-image.sh: no stand-in for '$kind': use python, postgres, caddy or redis" >&2; exit 2 ;;
esac

if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -qq  # a machine that already had Docker may never have fetched the package lists
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="$packages" trixie "$root" "$(bash "$here/debian-mirror.sh")" >/dev/null
# Where HTTPS goes through an intercepting proxy, its CA is in this machine's bundle:
# the image needs it for `pip install`. On an ordinary machine this is just the usual bundle.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

changes=(--change 'ENV LANG=C.UTF-8' --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt')
case $kind in
    python)
        ln -sf python3 "$root/usr/bin/python"
        changes+=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
                  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt'
                  --change 'CMD ["python3"]') ;;
    postgres)
        # Debian's package made a cluster of its own at install; the entrypoint makes the one used.
        rm -rf "$root"/var/lib/postgresql/17/main "$root"/etc/postgresql/17/main
        install -d -o "$(chroot "$root" id -u postgres)" -g "$(chroot "$root" id -g postgres)" -m 0700 \
            "$root/var/lib/postgresql/data"
        install -m 0755 "$here/standin-postgres-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
        changes+=(--change 'ENV PATH=/usr/lib/postgresql/17/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
                  --change 'ENV PGDATA=/var/lib/postgresql/data'
                  --change 'VOLUME /var/lib/postgresql/data'
                  --change 'EXPOSE 5432'
                  --change 'ENTRYPOINT ["docker-entrypoint.sh"]'
                  --change 'CMD ["postgres"]') ;;
    caddy)
        # The official image's directories (its Caddyfile and welcome page are the ones Debian's
        # package ships: `:80`, a file server on /usr/share/caddy).
        mkdir -p "$root/config/caddy" "$root/data/caddy" "$root/srv"
        # As the official image does: a root process whose capabilities were cut down to
        # NET_BIND_SERVICE (cap_drop: [ALL], cap_add: [NET_BIND_SERVICE]) may still exec it, and
        # one without NET_BIND_SERVICE in its bounding set may not (the kernel refuses to exec a
        # binary whose file capability it cannot grant: "operation not permitted"), so CI catches
        # a compose file that forgets the cap_add. Root keeps it under no-new-privileges.
        chroot "$root" setcap cap_net_bind_service=+ep /usr/bin/caddy
        changes+=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
                  --change 'ENV XDG_CONFIG_HOME=/config'
                  --change 'ENV XDG_DATA_HOME=/data'
                  --change 'EXPOSE 80' --change 'EXPOSE 443' --change 'EXPOSE 443/udp' --change 'EXPOSE 2019'
                  --change 'WORKDIR /srv'
                  --change 'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]') ;;
    redis)
        # The official image's data directory, the redis user's (Debian's package made the user);
        # the server's working directory, so its dump.rdb lands there with no config file.
        install -d -o "$(chroot "$root" id -u redis)" -g "$(chroot "$root" id -g redis)" -m 0755 "$root/data"
        install -m 0755 "$here/standin-redis-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
        changes+=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
                  --change 'VOLUME /data'
                  --change 'WORKDIR /data'
                  --change 'EXPOSE 6379'
                  --change 'ENTRYPOINT ["docker-entrypoint.sh"]'
                  --change 'CMD ["redis-server"]') ;;
esac
# --xattrs: file capabilities are an extended attribute (security.capability), which tar leaves
# out unless asked.
tar -C "$root" --xattrs --xattrs-include='security.capability' -c . \
    | docker import "${changes[@]}" - "$name" >/dev/null
echo "[build-standin-image] built $name" >&2
