# One target per task. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup run test lint bench-ingest clean localstack

$(BIN)/moviedb: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/moviedb  ## create .venv with the service and its test tools

run: setup  ## the API on its embedded defaults (embedded PostgreSQL, background tasks)
	$(BIN)/moviedb serve

test: setup  ## lint, then every test (unit, integration, end to end) on real services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

localstack: setup  ## LocalStack on the host (Python 3.13 venv) for `moviedb local up --emulator localstack` and the S3 tests
	bash local/install-localstack.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench-ingest: setup  ## 1M rows through the pipeline vs raw COPY (bench/ingest.py --help)
	$(BIN)/python bench/ingest.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
