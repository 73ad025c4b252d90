# Two targets from one base:
#   dev  - the supervisor with reload; the source comes from a bind mount (docker-compose.yml)
#   prod - the same gevent workers, several processes, no reload, no debugger, source baked in
# `docker build .` gives prod (the last stage): the safe default.

# The official image by default; any Python 3.11+ image with venv will do.
# template-only:begin
# This template's CI reaches no registry and passes a stand-in built from Debian packages
# (scripts/ci/official-or-standin.sh).
# template-only:end
ARG PYTHON_IMAGE=python:3.13-slim

FROM ${PYTHON_IMAGE} AS base
# No .pyc files in the mounted source (they would belong to the container user),
# and logs straight to `docker compose logs` without buffering.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# The user the server runs as. Build with your own IDs (UID/GID in .env) so files the app
# writes into the bind-mounted source belong to you, not to root. -o: the IDs may already
# exist in the image (GID 20 is macOS's "staff" and Debian's "dialout").
ARG UID=1000
ARG GID=1000
RUN groupadd -o -g "${GID}" app && useradd -o -m -u "${UID}" -g "${GID}" -s /bin/sh app

# Dependencies in their own layer, before any source: a source-only change rebuilds in seconds.
# A virtualenv keeps them apart from the system Python (the stand-in base image is Debian's).
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

WORKDIR /app
EXPOSE 5000
# Inside the container the server must listen on every interface to be reachable through the
# published port; compose publishes that port on the host's 127.0.0.1 only.
ENV HOST=0.0.0.0 PORT=5000
# Healthy while a worker serves the current code (it asks the server `OPTIONS *`, which no app
# route sees and the log never shows); a Python file: slim images have no curl.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "/app/scripts/healthcheck.py"]
# Exec form: the supervisor gets SIGTERM from `docker stop` (compose adds tini as PID 1 with
# init: true; without it the supervisor reaps zombies itself).
ENTRYPOINT ["python", "/app/scripts/entrypoint.py"]


FROM base AS dev
# Development: debugger, reload and template reload on (settings' defaults in development).
ENV APP_ENV=development
# The tests and the linter, so the app's tests run in here too: docker compose exec web pytest tests
COPY requirements-test.txt /tmp/requirements-test.txt
RUN pip install --no-cache-dir -r /tmp/requirements-test.txt && rm /tmp/requirements-test.txt
# A copy of the source so the image also runs without the bind mount; compose mounts the live
# tree over it. --chown: the app may write next to its code in development.
COPY --chown=app:app . /app
USER app


FROM base AS prod
# Why our own gevent pywsgi workers rather than gunicorn's gevent worker: it is the very worker
# the dev server runs and the tests exercise (same drain, same error handling), and it needs no
# further dependency. WEB_CONCURRENCY processes share one socket; the default is every CPU the
# container may use (set it when a CPU quota is lower than that).
# RELOAD=0: nothing watches files; APP_ENV=production: FLASK_DEBUG=1 is refused at start and
# SECRET_KEY is required.
ENV APP_ENV=production RELOAD=0 FLASK_DEBUG=0
# The whole project, whatever FLASK_APP names (a package, a module, a factory), minus what
# .dockerignore keeps out: tests, benchmarks, local state (instance/, databases) and every .env.
# Root-owned, so the app cannot rewrite itself.
COPY . /app
USER app
