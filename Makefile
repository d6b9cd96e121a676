# Mike — the two commands a newcomer needs are `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: run serve test lint format install migrate seed worker beat bench clean

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## A working demo on http://127.0.0.1:8000 (SQLite, eager tasks, console SMS; no services needed).
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver 127.0.0.1:8000

## Serving: the production shape on this machine: gunicorn (gunicorn.conf.py), a Celery worker
## and beat (Procfile, run by honcho), on PostgreSQL and Redis from DATABASE_URL / REDIS_URL.
serve: install
	$(PY) manage.py check_serving
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile

## The whole suite: lint, format check, pytest on PostgreSQL + Redis (localhost by default).
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrate: install
	$(PY) manage.py migrate --noinput

seed: install
	$(PY) manage.py seed_demo

## Background workers (need REDIS_URL): a Celery worker and the beat scheduler.
worker: install
	$(VENV)/bin/celery -A mike worker -l info

beat: install
	$(VENV)/bin/celery -A mike beat -l info

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
