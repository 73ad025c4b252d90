"""The container's health check: exit 0 when /healthz answers 200 on this container's port.

A Python file because slim images have no curl; run by HEALTHCHECK in the Dockerfile.
"""

import os
import sys
import urllib.request

try:
    with urllib.request.urlopen(f"http://127.0.0.1:{os.environ.get('PORT', '5000')}/healthz", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
