# Everyday commands. `make` alone lists them.
# Host targets use a local virtualenv (.venv); Docker targets use docker compose.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COMPOSE ?= docker compose
# Every profile's services (prod, and the optional ones), for the targets that stop or build them all.
ALL_PROFILES = --profile '*'

.DEFAULT_GOAL := help
.PHONY: help install dev test test-devserver lint docs up down logs shell build clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / && !seen[$$1]++ {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
# template-only:begin

.PHONY: new bench
# Only values given on make's command line count: an environment variable such as the NAME
# that WSL sets must not name a project. They reach the script through the environment, so no
# quoting of theirs can break the command; the script checks them all before writing anything.
command_line = $(if $(filter command line,$(origin $(1))),$($(1)))
new: export NEW_NAME = $(call command_line,NAME)
new: export NEW_DEST = $(call command_line,DEST)
new: export NEW_PYTHON_VERSION = $(call command_line,PYTHON_VERSION)
new: export NEW_PORT = $(call command_line,PORT)
new: export NEW_DATABASE = $(call command_line,DATABASE)
new: export NEW_TASKS = $(call command_line,TASKS)
new: install ## start a project from this template: make new NAME=my-shop DEST=../my-shop [PYTHON_VERSION=3.13] [PORT=5000] [DATABASE=none|postgres] [TASKS=celery|rq|none]
	@$(BIN)/python scripts/template/new_project.py --name="$$NEW_NAME" --dest="$$NEW_DEST" \
		--python-version="$$NEW_PYTHON_VERSION" --port="$$NEW_PORT" --database="$$NEW_DATABASE" --tasks="$$NEW_TASKS"

bench: install ## measure reload latency and failed requests against the alternatives
	$(BIN)/pip install -q -r bench/requirements.txt
	$(BIN)/python bench/reload.py
# template-only:end

# The app's requirements.txt first, then the tools around it, its pins winning (as in the dev image),
# by uv, at the version requirements-dev.txt pins. installed-from/: what the environment was
# installed from, so the dev server installs a changed requirements file while `make dev` runs
# (LIVE_INSTALL), as it does in the container. Compiled to bytecode as the images are, for a
# machine where PYTHONDONTWRITEBYTECODE is set (Python would compile them at every start).
$(VENV)/.installed: requirements.txt requirements-test.txt requirements-dev.txt scripts/devserver/install_app_first.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $$(grep -m1 '^uv==' requirements-dev.txt)
	UV_COMPILE_BYTECODE=1 $(BIN)/python scripts/devserver/install_app_first.py --python $(BIN)/python --uv $(BIN)/uv \
		--app requirements.txt --tools requirements-dev.txt
	mkdir -p $(VENV)/installed-from && cp requirements.txt requirements-test.txt requirements-dev.txt $(VENV)/installed-from/
	touch $@

install: $(VENV)/.installed ## create .venv with the pinned dependencies

dev: install ## run the dev server on this machine (it reads .env and .flaskenv itself, as compose does)
	$(BIN)/python scripts/entrypoint.py

# template-only:begin
# In this template, pyproject.toml's testpaths add scripts/tests: `make test` runs both suites,
# as its CI (.ci/run) needs. `make help` shows the first help of a target, this one.
test: ## run every test: tests/, then the dev environment's scripts/tests/ (Docker ones need an engine)
# template-only:end
test: install ## run your tests: tests/, your package's and a top-level tests.py (tests/integration/ needs Docker)
	$(BIN)/python -m pytest

test-devserver: install ## run the dev environment's own tests, scripts/tests/ (minutes; Docker ones need an engine)
	$(BIN)/python -m pytest scripts/tests

lint: install ## check style and common bugs with ruff
	$(BIN)/ruff check .
	@# The live-reload JavaScript: its syntax, by node where there is one (a machine without it is told).
	@if command -v node >/dev/null; then \
		for script in scripts/devserver/worker/static/*.js; do echo "node --check $$script"; node --check "$$script" || exit 1; done; \
	else echo "lint: node not found, the live-reload JavaScript (scripts/devserver/worker/static) is not checked"; fi

docs: install ## rewrite the README's table of variables and .env.example from scripts/devserver/settings.py
	$(BIN)/python scripts/settings_docs.py

# Before a build: one line naming the secret-looking files .dockerignore keeps out of the images
# (a key left in the tree); nothing when there are none. Plain Python, no .venv needed, and
# skipped on a machine without one (`docker compose up` needs none).
SECRETS_LEFT_OUT = @if command -v $(PYTHON) >/dev/null; then $(PYTHON) scripts/secrets_left_out.py; fi

up: ## build and start the dev stack in the foreground (Ctrl-C stops it)
	$(SECRETS_LEFT_OUT)
	$(COMPOSE) up --build

down: ## stop and remove the stack
	$(COMPOSE) $(ALL_PROFILES) down --remove-orphans

logs: ## follow the dev server's log
	$(COMPOSE) logs -f web

shell: ## a shell in the running dev container
	$(COMPOSE) exec web sh

build: ## build the dev and prod images
	$(SECRETS_LEFT_OUT)
	$(COMPOSE) $(ALL_PROFILES) build

clean: ## remove the stack, its images and volumes, and local caches
	-$(COMPOSE) $(ALL_PROFILES) down --rmi local -v --remove-orphans
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
