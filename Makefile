# Two commands matter: `make demo` and `make test`. Each creates or refreshes .venv first.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
# The first interpreter found that is Python >= 3.12 (plain python3 is 3.11 on our machines).
PYTHON ?= $(shell for p in python3.12 python3.13 python3.14 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	  && { echo $$p; break; }; done)
OUT ?= demo-output
# Test processes (pytest-xdist; each test file stays in one process, so its fixtures are built once).
WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile --durations=25

.PHONY: venv demo test test-fast test-slow lint notebooks benchmarks clean

$(BIN)/.installed: pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "error: no Python >= 3.12 found (tried python3.12, python3.13, python3.14, python3); install one or pass PYTHON=/path/to/python3.12" >&2; exit 1; fi
	@echo "using $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/bayes-scaling demo --out $(OUT)

# Fast tier, then the slow tier (real fits on real data) unless SLOW=0.
test: venv
	$(PYTEST) -m "not slow"
	@if [ "$${SLOW:-1}" != "0" ]; then $(PYTEST) -m slow; fi

test-fast: venv
	$(PYTEST) -m "not slow"

test-slow: venv
	$(PYTEST) -m slow

lint: venv
	$(BIN)/ruff check bayes_scaling tests benchmarks notebooks
	$(BIN)/ruff format --check bayes_scaling tests benchmarks

benchmarks: venv
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
