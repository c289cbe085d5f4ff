# Two commands matter: `make demo` (run the whole thing locally) and `make test`.
# Both set themselves up on a fresh machine: virtual environment, dependencies, Kafka jars.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The runtime is `consumer/`; the development tools (simulators, demo, bench, local broker,
# produce) are `push_tools/`, with their dependencies in the `dev` extra. `make demo` installs
# the runtime plus `dev`; `make test` adds the test tools (the `test` extra includes `dev`).
STAMP_DEV := $(VENV)/.installed-dev
STAMP := $(VENV)/.installed

.PHONY: setup kafka-jars system-packages lint test demo clean

$(STAMP_DEV): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP_DEV)

$(STAMP): $(STAMP_DEV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) kafka-jars

kafka-jars: $(STAMP_DEV)
	$(BIN)/python -c "from push_tools.local.kafka import provision; print('Kafka jars:', provision().libs)"

# Debian packages the tests use (Prometheus for the dashboard and alert-rule tests).
system-packages:
	@bash .ci/system-packages.sh

lint: $(STAMP)
	$(BIN)/ruff format --check consumer push_tools tests
	$(BIN)/ruff check consumer push_tools tests
	$(BIN)/mypy

test: setup system-packages lint
	$(BIN)/pytest

demo: $(STAMP_DEV) kafka-jars
	$(BIN)/push-consumer demo

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
