# Every target creates the virtualenv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint docs soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest

# The import-time figure is taken in a virtualenv holding only what `pip install aiguard` brings:
# the development tools (docs, linters, an editable install's path hooks) slow every import.
RUNTIME_VENV ?= .venv-runtime

bench: $(STAMP)
	test -x $(RUNTIME_VENV)/bin/python || $(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/python -m pip install --quiet .
	$(RUNTIME_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	AIGUARD_BENCH_RUNTIME_PYTHON=$(RUNTIME_VENV)/bin/python $(PY) bench/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples scripts
	$(VENV)/bin/ruff format --check src tests bench examples scripts
	$(VENV)/bin/mypy --strict src

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

soak: $(STAMP)
	AIGUARD_SOAK=1 $(PY) -m pytest -m soak

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) site .pytest_cache .mypy_cache .ruff_cache
