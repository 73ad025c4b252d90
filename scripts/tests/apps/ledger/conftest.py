"""The ledger is a fixture, copied into a made project by scripts/tests/docker/test_existing_app.py: its
tests run there, never from here, where `ledger` and its dependencies are not importable."""

collect_ignore = ["tests", "tests.py", "ledger", "migrations"]
