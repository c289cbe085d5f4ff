# Two commands matter: `make demo` (run the whole thing locally) and `make test`.
# Both set themselves up on a fresh machine: virtual environment, dependencies, Kafka jars.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup kafka-jars system-packages lint test demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) kafka-jars

kafka-jars: $(STAMP)
	$(BIN)/python -c "from consumer.local.kafka import provision; print('Kafka jars:', provision().libs)"

# Debian packages the tests use (Prometheus for the dashboard and alert-rule tests).
system-packages:
	@bash .ci/system-packages.sh

lint: $(STAMP)
	$(BIN)/ruff format --check consumer tests
	$(BIN)/ruff check consumer tests
	$(BIN)/mypy

test: setup system-packages lint
	$(BIN)/pytest

demo: setup
	$(BIN)/push-consumer demo

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
