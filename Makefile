# One target per task. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup run test test-fast lint bench-ingest bench-api clean localstack
.PHONY: deploy-tools docker-up docker-down docker-clean package deploy deploy-local remove bench-lambda-import

$(BIN)/moviedb: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev]'
	touch $@

setup: $(BIN)/moviedb  ## create .venv with the service and its test tools

run: setup  ## the API on its embedded defaults (embedded PostgreSQL, background tasks)
	$(BIN)/moviedb serve

test: setup deploy-tools  ## lint, then every test (unit, integration, end to end) on real services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

localstack: setup  ## LocalStack on the host (Python 3.13 venv) for `moviedb local up --emulator localstack` and the S3 tests
	bash local/install-localstack.sh

test-fast: setup  ## unit and integration tests only (real PostgreSQL and Redis), no lint
	$(BIN)/pytest -m "unit or integration"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench-ingest: setup  ## 1M rows through the pipeline vs raw COPY (bench/ingest.py --help)
	$(BIN)/python bench/ingest.py $(BENCH_ARGS)

bench-api: setup  ## the movie listing under wrk on 1M movies (bench/api.py --help)
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# --- Deployment (README: "Run with Docker", "Deploy to AWS", "Tear down") ---
STAGE  ?= dev
REGION ?= us-east-1
OSLS   := node_modules/.bin/osls
SLS_OPTS := --stage $(STAGE) --region $(REGION)
# the framework's own redundant DependsOn in its generated HTTP API resources
CFN_LINT_IGNORE := W3005

node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund --prefer-offline
	touch $@

deploy-tools: node_modules/.package-lock.json  ## osls and its plugins, exactly as locked

docker-up:  ## the whole stack in Docker: PostgreSQL, Redis, LocalStack, API, worker, poller
	docker compose up --build -d

docker-down:  ## stop the stack, keep its data volumes
	docker compose down

docker-clean:  ## stop the stack and delete its data volumes
	docker compose down --volumes --remove-orphans

package: setup deploy-tools  ## build the Lambda artifact and template offline (.serverless/), lint it
	$(OSLS) package $(SLS_OPTS)
	$(BIN)/cfn-lint --ignore-checks $(CFN_LINT_IGNORE) -- .serverless/cloudformation-template-update-stack.json

deploy: deploy-tools  ## deploy to AWS (STAGE=dev REGION=us-east-1), then apply the migrations
	$(OSLS) deploy $(SLS_OPTS)
	$(OSLS) invoke --function migrate $(SLS_OPTS)

deploy-local: deploy-tools  ## deploy to LocalStack (needs Docker; README "Deploy to LocalStack")
	$(MAKE) deploy STAGE=local

remove: deploy-tools  ## delete the stack (the uploads bucket is kept: README "Tear down")
	$(OSLS) remove $(SLS_OPTS)

bench-lambda-import: package  ## import time of each Lambda handler from the packaged artifact
	$(BIN)/python bench/lambda_import_time.py .serverless/moviedb.zip
