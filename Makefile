# Everyday commands. `make` alone lists them.
# Host targets use a local virtualenv (.venv); Docker targets use docker compose.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COMPOSE ?= docker compose

.DEFAULT_GOAL := help
.PHONY: help install dev test lint bench up down logs shell build clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed ## create .venv with the pinned dependencies

dev: install ## run the dev server on this machine (reads .env; debug on unless .env says otherwise)
	set -a; [ ! -f .env ] || . ./.env; set +a; FLASK_DEBUG=$${FLASK_DEBUG:-1} $(BIN)/python scripts/entrypoint.py

test: install ## run every test: the host tests, then the Docker ones (needs a Docker engine)
	$(BIN)/python -m pytest

lint: install ## check style and common bugs with ruff
	$(BIN)/ruff check .

bench: install ## measure reload latency and failed requests against the alternatives
	$(BIN)/python bench/reload.py

up: ## build and start the dev stack in the foreground (Ctrl-C stops it)
	$(COMPOSE) up --build

down: ## stop and remove the stack
	$(COMPOSE) --profile prod down --remove-orphans

logs: ## follow the dev server's log
	$(COMPOSE) logs -f web

shell: ## a shell in the running dev container
	$(COMPOSE) exec web sh

build: ## build the dev and prod images
	$(COMPOSE) --profile prod build

clean: ## remove the stack, its images and volumes, and local caches
	-$(COMPOSE) --profile prod down --rmi local -v --remove-orphans
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
