# The two commands a newcomer needs:  `make run`  and  `make test`.
# Both create the venv and install the pinned lock on first use (a stamp file skips it when warm).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)
PYTEST_ARGS ?=
# Two pytest-xdist workers, one test file each at a time: the end-to-end tests mostly wait on Airflow's
# scheduler, so a second worker runs the other files meanwhile (a clean clone's `make test` on a quiet 2-core
# machine: 21-22 min with two, install included, 2026-12-07). Files go out in collection order, the longest first
# (tests/conftest.py LONGEST_FIRST), not xdist's default of the files with the most tests first, which left the
# one-test end-to-end files to the end. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2

.PHONY: setup run test test-fast browser broker db-up services-up services-down down evaluate clean

setup: $(STAMP)

$(STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==24.3.1
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[test]"
	$(BIN)/python -m pip check
	rm -f $(VENV)/.installed-* && touch $@

## run: the main job on the embedded default (see README)
run: setup
	$(BIN)/cryptolstm run $(RUN_ARGS)

## test: everything, including the end-to-end tests with the real Airflow services
test: setup browser broker
	$(BIN)/python -m pytest --timeout=1500 --durations=30 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

## test-fast: unit tests and DAG integrity only
test-fast: setup
	$(BIN)/python -m pytest -m "not e2e and not slow" tests/unit tests/dags $(PYTEST_ARGS)

# The dashboard test drives Debian's headless Chromium; install it when we can (root + apt).
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; } ; } || \
	  echo "note: chromium not installed; the browser test will be skipped"

# The CeleryExecutor end-to-end test needs Debian's redis-server as its broker; install it the same way.
broker:
	@command -v redis-server >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } ; } || \
	  echo "note: redis-server not installed; the CeleryExecutor test will be skipped"

db-up: setup
	$(BIN)/cryptolstm db up

services-up: setup
	$(BIN)/cryptolstm services up

services-down down:
	$(BIN)/cryptolstm services down --with-db

evaluate: setup
	$(BIN)/cryptolstm evaluate --csv-dir ../shared/data/binance-1d

clean: down
	rm -rf .local
