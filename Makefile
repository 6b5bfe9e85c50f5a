# Two commands matter: `make demo` and `make test`. Each creates or refreshes .venv first.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
# The first interpreter found that is Python >= 3.12 (plain python3 is 3.11 on our machines).
PYTHON ?= $(shell for p in python3.12 python3.13 python3.14 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	  && { echo $$p; break; }; done)
OUT ?= demo-output

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
	$(BIN)/python -m pytest -m "not slow" -q --durations=25
	@if [ "$${SLOW:-1}" != "0" ]; then $(BIN)/python -m pytest -m slow -q --durations=25; fi

test-fast: venv
	$(BIN)/python -m pytest -m "not slow" -q --durations=25

test-slow: venv
	$(BIN)/python -m pytest -m slow -q --durations=25

lint: venv
	$(BIN)/ruff check bayes_scaling tests benchmarks notebooks
	$(BIN)/ruff format --check bayes_scaling tests benchmarks

benchmarks: venv
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
