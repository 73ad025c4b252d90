"""`python -m devserver.worker`: a worker spawned as a fresh interpreter (PRELOAD=0, or a fallback)."""

from devserver.worker.main import main

main()
