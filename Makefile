# The two commands a newcomer needs: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: run test bench bench-signing bench-email bench-debates bench-read soak faults lint format migrate demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

migrate: $(STAMP)
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo_data

run: demo
	SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} $(BIN)/python manage.py ensure_admin
	SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} PORT=$(PORT) BIN=$(BIN) bash scripts/run-all.sh

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@mkdir -p bench/results
	@set -e; for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f; done

# Needs PostgreSQL and Redis (BENCH_POSTGRES_URL, BENCH_REDIS_URL); options: BENCH_ARGS="--clients 16 ...".
bench-signing: $(STAMP)
	@mkdir -p bench/results
	$(BIN)/python bench/bench_signing.py $(BENCH_ARGS)

# Needs PostgreSQL and Redis (BENCH_POSTGRES_URL, BENCH_REDIS_URL); options: BENCH_ARGS="--signers 20000 ...".
bench-email: $(STAMP)
	@mkdir -p bench/results
	$(BIN)/python bench/bench_email.py $(BENCH_ARGS)

# Needs PostgreSQL and Redis (BENCH_POSTGRES_URL, BENCH_REDIS_URL); options: BENCH_ARGS="--requests 200 ...".
bench-debates: $(STAMP)
	@mkdir -p bench/results
	$(BIN)/python bench/bench_debates.py $(BENCH_ARGS)

# Needs PostgreSQL and Redis (BENCH_POSTGRES_URL, BENCH_REDIS_URL); options: BENCH_ARGS="--big-signatures 200000 ...".
bench-read: $(STAMP)
	@mkdir -p bench/results
	$(BIN)/python bench/bench_read.py $(BENCH_ARGS)

# A 10-minute signing soak at half the peak rate: memory and latency per minute must stay flat. Needs PostgreSQL and Redis.
soak: $(STAMP)
	@mkdir -p bench/results
	$(BIN)/python bench/soak.py $(BENCH_ARGS)

# Fault injection with real processes (own PostgreSQL cluster and Redis); results go to docs/reliability.md.
faults: $(STAMP)
	$(BIN)/python scripts/faults/run.py $(FAULTS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var
