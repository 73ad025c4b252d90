"""Put first on PYTHONPATH for the `flask run --debug` contender: Werkzeug then picks its stat reloader,
the one `pip install flask` gives. With watchdog installed (requirements-dev.txt has it, for
bench/tasks_reload.py), Werkzeug picks watchdog, whose inotify queue overflows on this tree's imports
("Inotify queue overflowed"): it then never reloads, and the table would compare against nothing."""

raise ImportError("hidden from the flask run contender: Werkzeug's stat reloader, as a plain install has")
