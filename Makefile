# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

# Development-only values for `make run`; production reads them from the environment.
DEV_ENV := DEBUG=1 SECRET_KEY=dev-only-key-not-for-production-$(shell hostname)

TEST_DB_URL    ?= postgres://postgres@127.0.0.1:5432/social
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

# `make serve` defaults: the local services, plain HTTP, and the production cookie flags (Secure:
# browsers keep them from http://localhost and 127.0.0.1). Override any of them from the environment.
SERVE_DB_URL    ?= postgres://postgres@127.0.0.1:5432/social_serve
SERVE_REDIS_URL ?= redis://127.0.0.1:6379/1
SERVE_ENV = DATABASE_URL=$${DATABASE_URL:-$(SERVE_DB_URL)} REDIS_URL=$${REDIS_URL:-$(SERVE_REDIS_URL)} \
	SECRET_KEY=$${SECRET_KEY:-$$(cat .serve-secret-key)}

.PHONY: run test e2e fuzz chaos sdk-check lint audit services serve nginx chromium compose-cli clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when a requirements file changes.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

## make run: one daphne on 127.0.0.1:$(PORT), embedded default (SQLite, in-memory layer, local media)
run: $(VENV)/.runtime
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) exec $(BIN)/daphne -b 127.0.0.1 -p $(PORT) social.asgi:application

## make test: the whole suite against real PostgreSQL, Redis and an S3 endpoint (moto)
test: $(VENV)/.dev services nginx compose-cli
	DATABASE_URL=$(TEST_DB_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/.e2e: requirements-e2e.txt $(VENV)/.dev
	$(BIN)/pip install --quiet -r requirements-e2e.txt
	touch $@

# Debian's docker-compose validates and renders docker-compose.yml without an engine (tests/test_compose.py).
compose-cli:
	@command -v docker-compose >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose)

chromium:
	@[ -x /usr/bin/chromium ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## make e2e: the admin in a real headless Chromium against the production shape, DEBUG off
e2e: $(VENV)/.e2e services nginx chromium
	STATIC_MANIFEST=1 SECRET_KEY=collectstatic-only $(BIN)/python manage.py collectstatic --noinput -v 0
	DATABASE_URL=$(TEST_DB_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest e2e $(PYTEST_ARGS)

## make fuzz: schemathesis checks the OpenAPI schema against the live production shape
fuzz: $(VENV)/.dev services nginx
	DATABASE_URL=$(TEST_DB_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest fuzz $(PYTEST_ARGS)

$(VENV)/.sdk: requirements-sdk.txt $(VENV)/.dev
	$(BIN)/pip install --quiet -r requirements-sdk.txt
	touch $@

sdk/typescript/node_modules/.installed: sdk/typescript/package-lock.json
	@command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm)
	cd sdk/typescript && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## make sdk-check: TypeScript (openapi-typescript + openapi-fetch) and Python (openapi-python-client)
## clients generated from a live server's schema, type-checked, run through the whole flow
sdk-check: $(VENV)/.sdk sdk/typescript/node_modules/.installed services
	DATABASE_URL=$(TEST_DB_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest sdk $(PYTEST_ARGS)
## make chaos: fault tests (README "Operations: failure modes"): the production shape on a private
## PostgreSQL, Redis and S3 (testsupport/faults.py) that the tests stop, freeze and restart (~3 min)
chaos: $(VENV)/.dev services nginx
	DATABASE_URL=$(TEST_DB_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest chaos $(PYTEST_ARGS)

services:
	@scripts/ensure-services.sh

nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light)

.serve-secret-key:
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

## make serve: the production shape on $(PORT): nginx -> gunicorn (REST) + daphne (WebSocket)
serve: $(VENV)/.runtime nginx services .serve-secret-key
	@[ -n "$$DATABASE_URL" ] || createdb -h 127.0.0.1 -U postgres social_serve 2>/dev/null || true
	$(SERVE_ENV) $(BIN)/python manage.py migrate --noinput
	$(SERVE_ENV) $(BIN)/python manage.py collectstatic --noinput -v 0
	$(SERVE_ENV) exec $(BIN)/python -m scripts.serve $(PORT)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## make audit: known vulnerabilities in the pinned runtime dependencies (needs PyPI's JSON API)
audit: $(VENV)/.dev
	$(BIN)/pip install --quiet pip-audit==2.10.1
	$(BIN)/pip-audit --requirement requirements.txt --desc

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles .pytest_cache

.PHONY: bench
## make bench: load figures of the production shape on this machine -> bench/RESULTS.md (~7 min).
## Own services only: BENCH_DB_URL's database (recreated), BENCH_REDIS_URL's Redis DB (flushed),
## a moto S3 server it starts.
BENCH_DB_URL    ?= postgres://postgres@127.0.0.1:5432/social_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/9
bench: $(VENV)/.dev services nginx
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run --database-url $(BENCH_DB_URL) --redis-url $(BENCH_REDIS_URL) $(BENCH_ARGS)
