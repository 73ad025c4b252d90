"""The app's task worker, a second process of its own: `python -m ledger.worker` (its compose service's
command). It counts the ledger's entries every half second until SIGTERM, then says so and exits."""

import signal
import sys
import time

from ledger import Entry, create_app, db

stopping = False


def stop(signum, frame):
    global stopping
    stopping = True


def main():
    signal.signal(signal.SIGTERM, stop)
    app = create_app()
    print("ledger worker ready", flush=True)
    while not stopping:
        with app.app_context():
            print(f"ledger worker sees {db.session.query(Entry).count()} entries", flush=True)
        time.sleep(0.5)
    print("ledger worker stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
