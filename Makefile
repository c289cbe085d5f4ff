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

.PHONY: setup kafka-jars system-packages lint test demo clean lock

# Every install is pinned by constraints.txt (the versions `make lock` resolved), so two
# builds a month apart install the same thing; the Dockerfile uses the same file.
PIP_INSTALL := $(BIN)/pip install --quiet --constraint constraints.txt

$(STAMP_DEV): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) -e '.[dev]'
	touch $(STAMP_DEV)

$(STAMP): $(STAMP_DEV)
	$(PIP_INSTALL) -e '.[test]'
	touch $(STAMP)

# The pipeline's hot modules (setup.py's COMPILED, which says what it measured) compiled by
# mypyc beside their sources. Compiling
# type-checks them with the installed dependencies, hence no build isolation; any change to
# consumer/ rebuilds them (~80 s), so a compiled module never shadows a newer source.
STAMP_BUILD := $(VENV)/.compiled
$(STAMP_BUILD): $(STAMP_DEV) setup.py $(shell find consumer -name '*.py')
	$(PIP_INSTALL) 'setuptools>=77' mypy
	PUSH_DISPATCH_COMPILE=1 $(PIP_INSTALL) --no-build-isolation --no-deps -e .
	touch $(STAMP_BUILD)

# Re-resolve every dependency (runtime, dev, test) in a clean virtual environment and pin the
# result in constraints.txt. Run it on purpose (to take upgrades), review the diff, commit it.
LOCK_VENV := .cache/lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet '.[test]'
	{ echo "# Pinned versions of every dependency (runtime, dev, test): made by 'make lock'."; \
	  echo "# Used by make (pip --constraint) and the Dockerfile. Edit by re-running make lock."; \
	  $(LOCK_VENV)/bin/pip freeze --all --exclude push-dispatch --exclude setuptools --exclude wheel; \
	} > constraints.txt
	rm -rf $(LOCK_VENV)

setup: $(STAMP) $(STAMP_BUILD) kafka-jars

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
	PUSH_DISPATCH_COMPILED=1 $(BIN)/pytest

demo: $(STAMP_DEV) $(STAMP_BUILD) kafka-jars
	$(BIN)/push-consumer demo

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache build
	rm -f ./*__mypyc.*.so; find consumer -name "*.so" -delete
