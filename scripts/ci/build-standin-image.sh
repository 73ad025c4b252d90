#!/usr/bin/env bash
# Build a stand-in for python:3.13-slim from Debian trixie packages (Python 3.13) with
# debootstrap, for machines that reach Debian's mirror but no container registry.
# It mirrors what the Dockerfile expects of the official image: `python` on PATH, venv, CA certs.
set -euo pipefail
name=${1:?usage: build-standin-image.sh IMAGE_NAME}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -qq  # a machine that already had Docker may never have fetched the package lists
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates trixie "$root" "$mirror" >/dev/null
ln -sf python3 "$root/usr/bin/python"
# Where HTTPS goes through an intercepting proxy, its CA is in this machine's bundle:
# the image needs it for `pip install`. On an ordinary machine this is just the usual bundle.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' \
    - "$name" >/dev/null
echo "[build-standin-image] built $name" >&2
