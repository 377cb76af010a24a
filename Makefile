# Two entry points that work on a fresh machine with Python 3.11+ and make:
#   make demo   set up the virtual environment, then simulate and run the demo programme
#   make test   set up the virtual environment, then run the whole test suite
# Both are idempotent: the environment is rebuilt only when pyproject.toml or the lock change.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup browser demo test lint bench clean

setup: $(STAMP) browser

# Headless Chromium renders PDFs and runs the accessibility tests. Installed from Debian's
# packages when missing (needs root, as on CI); without it, PDF output and the browser tests
# are skipped with a message saying why. poppler-utils (pdftoppm, pdfinfo) is for looking at
# PDF pages as images while working on the print styles; nothing in the tests needs it.
browser:
	@command -v pdftoppm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null 2>&1 || \
	    echo "note: could not install poppler-utils (pdftoppm); only needed to view PDF pages"; \
	  fi; }
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium (PDF output, accessibility tests)"; \
	    (apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null)) \
	    || echo "warning: could not install chromium; PDFs and browser tests will be skipped"; \
	  else echo "note: chromium not found; PDFs and browser tests will be skipped"; fi; }

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "collab-stats needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

demo: setup
	$(BIN)/collab demo

# The suite runs on 2 worker processes (pytest-xdist): much of its time is spent waiting for
# Prefect servers, browsers and subprocesses, so two workers fit a 2-core machine.
test: setup
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo-output .pytest_cache
