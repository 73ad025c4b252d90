"""`python -m devserver.forkserver`: started by the supervisor when PRELOAD is on."""

import os
import sys

try:
    from devserver.forkserver.main import main
except Exception:
    # A background candidate (protocol.CANDIDATE_ENV; protocol itself may be what failed) started
    # while the tree was being rewritten (a checkout, a restore): the fork server in use serves on,
    # and the candidate is tried again at the next reload. Not worth a traceback.
    if os.environ.get("DEVSERVER_CANDIDATE"):
        sys.exit(1)
    raise

main()
