"""The blog is a fixture, copied into a project by scripts/tests/docker/test_own_app.py: its tests run
there (in the dev container), never from here, where `notes_blog` is not importable."""

collect_ignore = ["tests", "notes_blog"]
