# Two commands on a fresh machine with python3 and make: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= demo_out
# Test processes: a second one fills the core left idle while XLA compiles (the suite is
# compilation-bound); whole files go to one process so module fixtures run once.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

.PHONY: demo test test-slow lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[gp,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/otlip demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PYTEST)

test-slow: $(STAMP)
	$(PYTEST) -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check otlip tests bench

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
