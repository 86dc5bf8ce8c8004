# Every target creates and uses the local virtual environment by itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint layers types pytest browser bench run clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if (3, 11) <= v[:2] < (3, 13) else "zapcharge needs Python 3.11 or 3.12, found %d.%d" % v[:2])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/zapcharge demo $(if $(OCPP),--ocpp $(OCPP)) $(if $(BACKEND),--backend $(BACKEND))

test: lint types pytest

lint: layers
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/ruff format --check bot tests bench

layers: $(STAMP)
	$(VENV)/bin/lint-imports

types: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) browser
	$(PY) -m pytest -q

# The console's browser test drives Debian's Chromium (tests/console/test_browser.py).
# CI runs as root on a clean Debian: install it there when it is missing. Elsewhere, or
# when apt cannot reach its archive, say so; the test then skips and names the reason.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (Debian package) for the console's browser test"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium >/dev/null; } \
	      || echo "could not install chromium: the browser test will be skipped"; \
	  else \
	    echo "chromium is missing and this is not root: the browser test will be skipped"; \
	  fi; }

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

run: $(STAMP)
	$(VENV)/bin/zapcharge --config relays.toml run

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
