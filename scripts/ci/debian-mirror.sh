#!/usr/bin/env bash
# Print the Debian mirror this machine's apt is configured with (a corporate or air-gapped
# mirror included), for debootstrap; DEBIAN_MIRROR overrides it, deb.debian.org is the fallback.
set -euo pipefail
if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; exit 0; fi
# The main archive's URI: the one whose suite has no -security or -updates suffix.
mirror=$(apt-get indextargets --format '$(RELEASE) $(REPO_URI)' 2>/dev/null \
    | awk '$1 !~ /-/ {print $2; exit}')
echo "${mirror:-http://deb.debian.org/debian/}"
