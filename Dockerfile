# Two targets from one base:
#   dev  - the supervisor with reload; the source comes from a bind mount (docker-compose.yml);
#          uv, the tests, the linter, the debugger and git, in a virtualenv the container user owns
#   prod - the same gevent workers, several processes, no reload, no debugger, source baked in,
#          the app's dependencies only
# uv and deps are build steps, in stages of their own so each target takes only what it needs. Builds need BuildKit (cache mounts): `docker compose build` has it, as has
# `docker build` with buildx (Docker 23+). `docker build .` gives prod (the last stage): the safe default.

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
# Given a command, it runs that instead, with the app's environment as the workers have it
# (`docker compose run --rm web flask shell`, a service's `command:`); given `release`, the release
# step: your migrations (scripts/devserver/release.py).
ENTRYPOINT ["python", "/app/scripts/entrypoint.py"]
# uv's settings, for the build and for live installs in development: copy out of the cache
# (a cache mount is another filesystem), trust the system's CA bundle (a company proxy's CA
# is added there), and use the image's Python, never one uv would download.
ENV UV_LINK_MODE=copy UV_SYSTEM_CERTS=1 UV_PYTHON_DOWNLOADS=never


# uv installs the dependencies: several times faster than pip, and what it downloads stays in a
# BuildKit cache mount, so a one-line requirements change fetches one package, not all of them.
FROM base AS uv
ARG UV_VERSION=0.13.9
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/uv && /opt/uv/bin/pip install -q "uv==${UV_VERSION}"


# The app's dependencies for production, in a layer of their own, before any source: a
# source-only change rebuilds in seconds. A virtualenv keeps them apart from the system Python
# (the stand-in base image is Debian's).
# UV_COMPILE_BYTECODE: the installed packages are compiled to .pyc here, once, since
# PYTHONDONTWRITEBYTECODE keeps Python from caching them later: without it every new interpreter
# (each production worker's start, every `flask` command, a task job) compiles what it imports
# from source, seconds for a real app's packages. The app's own code stays source only.
FROM uv AS deps
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv venv -q /opt/venv \
    && UV_COMPILE_BYTECODE=1 /opt/uv/bin/uv pip install -q --python /opt/venv/bin/python -r /tmp/requirements.txt


FROM base AS dev
# Development: debugger, reload and template reload on (settings' defaults in development).
# FLASK_DEBUG as the workers have it, for `flask` commands run with `docker compose exec` too
# (FLASK_DEBUG=0 in .env turns both off).
ENV APP_ENV=development FLASK_DEBUG=1
# git, for your tools in here (pytest plugins, pre-commit, a requirement from a git URL), from
# the base image's own Debian packages; the package lists stay in a cache mount, not the image.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git >/dev/null
# uv, for the builds below and for the live installs: a requirements change is installed into
# the running container (scripts/devserver/supervisor/installer.py).
COPY --from=uv /opt/uv /opt/uv
RUN ln -s /opt/uv/bin/uv /usr/local/bin/uv
# The app's dependencies, then the tests, the linter and the debugger around them (docker compose
# exec web pytest), in a virtualenv that belongs to the container user, so that those installs
# (and `pip install` by hand: --seed puts pip in it) can write to it. The app's pins win: the
# tools take the versions requirements.txt installs (an app's old `requests` pin fails no build),
# and what they ask and do not get is listed once, at every start (install_app_first.py). chown in
# the same step: a later one would store a second copy of every file. installed-from/ keeps the
# requirement files it was installed from: the dev server compares them with yours at start.
# Compiled to bytecode, as in production (above): the dev server's start, the fork server's
# rebuild after a live install, pytest and each `flask` command import them precompiled. (A live
# install is not compiled: uv would compile every package again, and it is one package.)
ARG UID=1000
ARG GID=1000
COPY requirements.txt requirements-test.txt /tmp/installed-from/
COPY scripts/devserver/install_app_first.py /tmp/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv venv -q --seed /opt/venv \
    && UV_COMPILE_BYTECODE=1 python /tmp/install_app_first.py --python /opt/venv/bin/python \
        --app /tmp/installed-from/requirements.txt --tools /tmp/installed-from/requirements-test.txt \
    && mv /tmp/installed-from /opt/venv/installed-from && rm /tmp/install_app_first.py \
    && chown -R "${UID}:${GID}" /opt/venv
# A copy of the source so the image also runs without the bind mount; compose mounts the live
# tree over it. --chown: the app may write next to its code in development.
COPY --chown=${UID}:${GID} . /app
# By number: `docker compose watch` looks a user name up in the image's passwd and fails.
USER ${UID}


# The project as production gets it: what .dockerignore lets in (no tests, benchmarks, local state or
# .env), less the dev tools' requirement files, which the dev image reads from the same context.
FROM base AS source
COPY . /app
RUN rm -f /app/requirements-test.txt /app/requirements-dev.txt


FROM base AS prod
# gunicorn's arbiter over this project's gevent workers (scripts/devserver/production/): the worker
# timeout, max-requests recycling, graceful HUP and USR2 of the engine production teams trust, with
# the request path the dev server's tests exercise. WEB_CONCURRENCY processes share one socket; the
# default is every CPU the container may use (set it when a CPU quota is lower than that).
# RELOAD=0: nothing watches files; APP_ENV=production: FLASK_DEBUG=1 is refused at start and
# SECRET_KEY is required.
ENV APP_ENV=production RELOAD=0 FLASK_DEBUG=0
# The app's dependencies only: no uv, tests, linter, debugger or git. Root-owned, as is the
# source: the app cannot rewrite itself.
COPY --from=deps /opt/venv /opt/venv
# The whole project, whatever FLASK_APP names (a package, a module, a factory).
COPY --from=source /app /app
WORKDIR /app
# Your app's build step, if it has one: APP_BUILD in .env (a build arg in docker-compose.yml), e.g.
# APP_BUILD="flask translate compile" or "flask assets build"; run here, as root, with the app's
# dependencies and .flaskenv, so what it writes is baked in and read-only.
ARG APP_BUILD=""
RUN if [ -n "$APP_BUILD" ]; then sh -ec "$APP_BUILD"; fi
# Flask's instance folder, the container user's: compose mounts a named volume here, which Docker
# fills from this empty folder, its owner included, on first use. The rest stays read-only.
ARG UID=1000
ARG GID=1000
RUN mkdir -p /app/instance && chown "${UID}:${GID}" /app/instance
USER ${UID}
