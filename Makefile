# Everything a fresh clone needs: `make demo` and `make test` set up the virtual environment first.
#
# The package is installed into .venv for real (not editable): setup.py compiles ingest's hot
# path with mypyc, and the compiled modules only exist in the installed copy. Any change to
# pyproject.toml, setup.py or a file under src/ re-installs it before the next target runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS := $(VENV)/.build-deps
STAMP := $(VENV)/.installed
# Every file and folder under src/ (a folder's time changes when a file in it is added or
# removed), less bytecode and setuptools' egg-info.
SOURCES := $(shell find src \( -name __pycache__ -o -name '*.egg-info' \) -prune -o -print)
# Everything the build needs before the package itself: setup.py runs mypyc, which type-checks
# the compiled modules against their dependencies and stubs, so those come first as well.
# Read from pyproject.toml: the build system's requirements, the dependencies, the dev extra
# (which pins mypy, and so mypyc).
REQUIREMENTS_PY = import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); \
	print(*p["build-system"]["requires"], *p["project"]["dependencies"], \
	*p["project"]["optional-dependencies"]["dev"], sep="\n")

# Whether the last install was compiled: switching REACHWATCH_PURE_PYTHON reinstalls too. The file
# is rewritten only when the mode changes, so its time says when it last did.
MODE := $(if $(REACHWATCH_PURE_PYTHON),pure-python,compiled)
MODE_FILE := $(VENV)/.build-mode

.PHONY: demo test lint typecheck unit unit-pure bench mutation clean always report-tools screenshots

# The venv and what building the package needs (--no-build-isolation builds with these).
$(DEPS): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -c '$(REQUIREMENTS_PY)' > $(VENV)/build-requirements.txt
	$(BIN)/pip install --quiet -r $(VENV)/build-requirements.txt
	touch $@

# The package itself, with its dependencies and the dev tools when pyproject.toml or the venv
# changed, or just the package when only its sources did. setuptools never removes files from its
# build/lib* staging copy, so that copy of the package goes first: a file deleted from src/ would
# otherwise stay installed. The compiled library beside it stays, and is only rebuilt when mypyc's
# C output changes.
$(MODE_FILE): always
	@mkdir -p $(VENV)
	@[ "$$(cat $@ 2>/dev/null)" = $(MODE) ] || echo $(MODE) > $@

$(STAMP): $(DEPS) $(MODE_FILE) pyproject.toml setup.py $(SOURCES)
	rm -rf build/lib.*/reachwatch build/pure/lib/reachwatch
	$(BIN)/pip install --quiet --no-build-isolation \
		$(if $(filter $(DEPS) pyproject.toml,$?),'.[dev]',--no-deps --force-reinstall .)
	touch $@

# The same package interpreted (REACHWATCH_PURE_PYTHON=1: nothing compiled), installed on .venv's
# dependencies into a folder of its own, which `unit-pure` puts first on the path: the unit tests
# of the modules setup.py compiles run against both builds (the interpreted one is what
# monkeypatching, coverage and a plain `pip install` see). The lab, browser and web suites run
# once, on the compiled build, in `unit`. It stages apart from the compiled build (setup.py).
PURE := $(VENV)/pure
PURE_STAMP := $(PURE)/.installed
PURE_TESTS := tests/classify tests/ingest tests/net tests/test_build.py

$(PURE_STAMP): $(DEPS) pyproject.toml setup.py $(SOURCES)
	rm -rf $(PURE) build/pure/lib/reachwatch
	REACHWATCH_PURE_PYTHON=1 $(BIN)/pip install --quiet --no-build-isolation --no-deps \
		--target $(PURE) .
	touch $@

unit-pure: $(PURE_STAMP)
	REACHWATCH_PURE_PYTHON=1 PYTHONPATH=$(CURDIR)/$(PURE) $(BIN)/pytest -q $(PURE_TESTS)

# The report's PDF is printed by Debian's chromium, and its tests read PDFs with poppler-utils;
# installed when missing and we are root (never a browser download of a tool's own).
report-tools:
	@command -v chromium >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 || { \
		[ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium poppler-utils; } || \
		echo "chromium or poppler-utils missing (not root): no report.pdf, browser tests skip"

demo: $(STAMP) report-tools
	$(BIN)/reachwatch demo

# The dashboard's screenshots in docs/screenshots/ (desktop and phone widths), taken by its
# browser tests on the demo's store, as the README shows them.
screenshots: $(STAMP) report-tools
	REACHWATCH_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest -q -p no:cacheprovider \
		tests/web/test_pages.py -k reader_goes

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) report-tools
	$(BIN)/pytest

test: lint typecheck unit

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

# Mutation testing of classify/ against tests/classify (slow; not part of `make test`). mutmut
# mutates a copy of src/ under mutants/ and runs it uninstalled, which the staleness check in
# tests/conftest.py accepts only with REACHWATCH_MUTATION_RUN set. One worker: the machine is
# shared. MUTANTS narrows the run, e.g. MUTANTS='reachwatch.classify._combine.*'.
MUTANTS ?=
mutation: $(STAMP)
	REACHWATCH_MUTATION_RUN=1 REACHWATCH_REFERENCE=$(CURDIR)/../shared/reference \
		$(BIN)/mutmut run --max-children 1 $(MUTANTS)
	$(BIN)/mutmut results

clean:
	rm -rf mutants $(VENV) .mypy_cache .pytest_cache .ruff_cache build src/*.egg-info
