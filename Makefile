# Set-up and checks. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js
CUSTOMERS ?= 5000
SEED ?= 42
WORKSPACE ?= demo-workspace

.PHONY: install demo test lint typecheck unit pg-start pg-stop browser jdk bench audit clean axe i18n i18n-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) $(AXE)

## axe: axe-core from the npm registry, at the version locked in tests/e2e/axe (the browser tests inject it)
$(AXE): tests/e2e/axe/package-lock.json
	npm ci --prefix tests/e2e/axe --no-audit --no-fund --silent
	touch $(AXE)

axe: $(AXE)

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

## jdk: a Java runtime for Spark's local mode (Debian's default-jdk-headless, installed with apt-get when missing)
jdk:
	@scripts/jdk.sh >/dev/null

## test: install, lint, type-check, start PostgreSQL, install the browser and a JDK, run the whole suite on two workers
## (pytest-xdist; each module stays on one worker, so its module fixtures are built once: tests/conftest.py)
test: install lint typecheck pg-start browser jdk axe
	CVM_TEST_PG_URL=$$(scripts/pg.sh url) $(BIN)/pytest -n 2 --dist loadfile

unit: install
	$(BIN)/pytest tests/unit

bench: install
	$(BIN)/python bench/demo.py

## audit: check the installed dependencies for known vulnerabilities (needs a network that reaches PyPI's
## vulnerability data; not part of `make test`, which runs offline). AUDIT_ARGS="--vulnerability-service osv" switches.
audit: install
	$(BIN)/pip-audit --skip-editable --progress-spinner off $(AUDIT_ARGS)

## i18n: extract every marked message into src/cvm/locale/cvm.pot and merge it into the fr and nl catalogs
## (new messages arrive empty, for a translator to fill in; see docs/translating.md). The catalogs are read
## at run time (cvm.i18n), so nothing is compiled: a fresh clone and `pip install` work as they are.
LOCALE_DIR := src/cvm/locale
BABEL_KEYWORDS := -k _ -k N_ -k gettext -k NP_:1c,2 -k pgettext:1c,2
i18n: install
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output --project CVM \
		--copyright-holder "CVM contributors" --msgid-bugs-address "" -o $(LOCALE_DIR)/cvm.pot .
	$(BIN)/pybabel update -i $(LOCALE_DIR)/cvm.pot -d $(LOCALE_DIR) -D cvm --no-fuzzy-matching --ignore-obsolete

## i18n-check: fail when a catalog lacks a message the code or templates use (what the test suite checks too)
i18n-check: install
	$(BIN)/pytest -q tests/unit/test_i18n_catalogs.py

clean:
	rm -rf $(WORKSPACE) .pytest_cache .mypy_cache .ruff_cache
