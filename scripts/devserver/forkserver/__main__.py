"""`python -m devserver.forkserver`: started by the supervisor when PRELOAD is on."""

from devserver.forkserver.main import main

main()
