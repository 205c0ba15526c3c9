# Set-up and checks. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CUSTOMERS ?= 5000
SEED ?= 42
WORKSPACE ?= demo-workspace

.PHONY: install demo test lint typecheck unit pg-start pg-stop browser bench audit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: install, generate the demo company, ingest it and run the main job
demo: install
	$(BIN)/cvm demo --customers $(CUSTOMERS) --seed $(SEED) --workspace $(WORKSPACE)
	@echo
	@echo "Next steps:"
	@echo "  source $(VENV)/bin/activate"
	@echo "  export CVM_WORKSPACE=$(abspath $(WORKSPACE))"
	@echo "  cvm customer show C0000123          # one customer's 360 view"
	@echo "  cvm report growth                   # growth accounting per month"
	@echo "  cvm keys create --role analyst      # the key to log in with (shown once)"
	@echo "  cvm serve                           # then open http://127.0.0.1:8000 (dashboard), /docs (API)"
	@echo "More: docs/index.md"

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy src

pg-start:
	@scripts/pg.sh start >/dev/null

pg-stop:
	@scripts/pg.sh stop

## browser: Debian's Chromium for the dashboard's browser tests (installed with apt-get when missing)
browser:
	@scripts/browser.sh >/dev/null

## test: install, lint, type-check, start PostgreSQL, install the browser, run the whole suite
test: install lint typecheck pg-start browser
	CVM_TEST_PG_URL=$$(scripts/pg.sh url) $(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

bench: install
	$(BIN)/python bench/demo.py

## audit: check the installed dependencies for known vulnerabilities (needs a network that reaches PyPI's
## vulnerability data; not part of `make test`, which runs offline). AUDIT_ARGS="--vulnerability-service osv" switches.
audit: install
	$(BIN)/pip-audit --skip-editable --progress-spinner off $(AUDIT_ARGS)

clean:
	rm -rf $(WORKSPACE) .pytest_cache .mypy_cache .ruff_cache
