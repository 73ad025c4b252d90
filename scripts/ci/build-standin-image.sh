#!/usr/bin/env bash
# Build a stand-in for an official image from Debian trixie packages with debootstrap, for
# machines that reach a Debian mirror (this machine's own apt source) but no container registry.
#   python   -> for python:3.13-slim: `python` on PATH, venv, CA certificates.
#   postgres -> for postgres:17: the official image's contract as docker-compose.yml uses it
#               (POSTGRES_USER/PASSWORD/DB, PGDATA, pg_isready, port 5432), from
#               standin-postgres-entrypoint.sh.
set -euo pipefail
kind=${1:?usage: build-standin-image.sh python|postgres IMAGE_NAME}
name=${2:?usage: build-standin-image.sh python|postgres IMAGE_NAME}
here=$(dirname "$0")
case $kind in
    python) packages=python3,python3-venv,ca-certificates ;;
    postgres) packages=postgresql-17,ca-certificates ;;
    *) echo "build-standin-image.sh: no stand-in for '$kind': use python or postgres" >&2; exit 2 ;;
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
esac
tar -C "$root" -c . | docker import "${changes[@]}" - "$name" >/dev/null
echo "[build-standin-image] built $name" >&2
