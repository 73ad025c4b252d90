"""The design's naive version, for bench/reload.py: a gevent server the watchfiles CLI restarts.

    watchfiles 'python bench/naive_gevent_server.py PORT' app
"""

from gevent import monkey

monkey.patch_all()

import os
import sys

sys.path.insert(0, os.getcwd())  # the project copy the benchmark runs in

from gevent.pywsgi import WSGIServer

from app import create_app

WSGIServer(("127.0.0.1", int(sys.argv[1])), create_app(), log=None).serve_forever()
