# The two commands of the README. Each (re)creates .venv when pyproject.toml or constraints.txt change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench clean

run: $(VENV)/.installed-run
	$(BIN)/deepstart run

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

$(VENV)/.installed-run: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@ $(VENV)/.installed-run

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/fit_overhead.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
