# Two commands do everything on a fresh machine: `make book` and `make test`.
PROFILE ?= quick
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# Extra arguments for `python -m mothlib`, e.g. ARGS="--set n_null=200".
ARGS    ?=

.PHONY: all venv test lint book study bench clean distclean

all: test

# constraints.txt pins what this environment is tested with (the CPU torch wheel);
# pyproject.toml only states the ranges mothlib works with.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# Two pytest-xdist workers, each test file on one of them (TEST_WORKERS=0: one process);
# the slowest tests are listed, to keep an eye on the 10-minute budget.
TEST_WORKERS ?= 2

test: $(STAMP) lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

# pyflakes and bugbear (ruff), then the type checker, as configured in pyproject.toml.
lint: $(STAMP)
	$(PY) -m ruff check mothlib tests benchmarks
	$(PY) -m mypy

# Runs the study at $(PROFILE) (stages whose artifacts are current are skipped), executes
# the notebooks with papermill and builds the book into _build/html.
book: $(STAMP)
	$(PY) -m mothlib book --profile $(PROFILE) $(ARGS)

# The study's stages only, no notebooks.
study: $(STAMP)
	$(PY) -m mothlib study --profile $(PROFILE) $(ARGS)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf _build book/notebooks

distclean: clean
	rm -rf $(VENV) artifacts
