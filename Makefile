# Every target creates and uses the local virtual environment by itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint layers types pytest bench run clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if (3, 11) <= v[:2] < (3, 13) else "zapcharge needs Python 3.11 or 3.12, found %d.%d" % v[:2])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/zapcharge demo $(if $(OCPP),--ocpp $(OCPP))

test: lint types pytest

lint: layers
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/ruff format --check bot tests bench

layers: $(STAMP)
	$(VENV)/bin/lint-imports

types: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

run: $(STAMP)
	$(VENV)/bin/zapcharge --config relays.toml run

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
