# Developer shortcuts. Python tools live in $(VENV) (the dev extra); cargo and cbindgen come
# from ~/.cargo/bin (scripts/install-cbindgen.sh installs the pinned cbindgen).
# The tests import the *installed* package, so `make test` installs it into $(VENV) first.

VENV ?= .venv
# The interpreter the venv is made with, and the extras it gets: `make manylinux PYTHON=pypy3
# VENV=.venv-pypy VENV_EXTRAS=test` builds the PyPy wheel (pp311) the same way as the CPython
# one (cp311-abi3); the dev extra's linters are for CPython (under PyPy, mypy's parser would
# be compiled from source).
PYTHON ?= python3
VENV_EXTRAS ?= dev
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PATH := $(HOME)/.cargo/bin:$(PATH)

DIST := greeter_cffi
# The oldest glibc the Linux wheel supports (manylinux2014); zig links against it.
GLIBC := 2.17
MANYLINUX := manylinux2014_x86_64

.PHONY: help venv header stub fmt lint rust-check fresh test check bench wheel manylinux sdist docs examples ci clean

help:
	@echo "make header  regenerate include/*.h from rust/ (cbindgen)"
	@echo "make stub    regenerate greeter/_greeter_cffi.pyi from include/greeter_cdef.h"
	@echo "make fmt     ruff format + cargo fmt"
	@echo "make test    install the package into $(VENV) and run pytest against it"
	@echo "make check   every gate: lint, mypy, rust fmt/clippy/tests, drift, tests"
	@echo "make bench   python benchmarks/bench.py (against the installed package)"
	@echo "make wheel   dist/*.whl for this machine's glibc, checked, with auditwheel show"
	@echo "make manylinux  dist/*manylinux2014*.whl (zig, glibc $(GLIBC)), repaired and checked"
	@echo "               (PyPy's: make manylinux PYTHON=pypy3 VENV=.venv-pypy VENV_EXTRAS=test)"
	@echo "make sdist   dist/*.tar.gz, checked"
	@echo "make docs    the API reference, build/docs/index.html (Sphinx, warnings are errors)"
	@echo "make examples  build and run examples/ (Python, ctypes, C)"
	@echo "make ci      .ci/run, exactly as CI runs it"

$(VENV)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '.[$(VENV_EXTRAS)]'
	touch $@

venv: $(VENV)/.installed-dev

header:
	scripts/install-cbindgen.sh
	python3 scripts/header.py

stub: venv
	$(PY) scripts/gen_stub.py

fmt: venv
	$(BIN)/ruff format .
	cd rust && cargo fmt

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict greeter tests examples benchmarks

rust-check:
	cd rust && cargo fmt --check && cargo clippy --all-targets -- -D warnings && cargo test --quiet

fresh: venv
	scripts/install-cbindgen.sh
	$(PY) scripts/header.py --check
	$(PY) scripts/gen_stub.py --check

test: venv
	$(PY) -m pip install --quiet '.[test]'
	$(BIN)/pytest -q

check: lint rust-check fresh test

bench: test
	$(PY) benchmarks/bench.py  # the script's directory, not ./, goes on sys.path: the installed greeter

wheel: venv
	rm -f dist/$(DIST)-*.whl
	$(PY) -m pip wheel . -w dist --no-deps --quiet
	$(PY) scripts/check_dist.py wheel dist/$(DIST)-*.whl
	$(BIN)/auditwheel show dist/$(DIST)-*.whl

# No Docker: zig compiles and links the Rust cdylib (cargo zigbuild) and every cffi extension
# against glibc $(GLIBC); auditwheel repair then tags the wheel (and needs patchelf on PATH).
# build/ goes first: objects compiled by another compiler must not be reused.
manylinux: venv
	$(PY) -m pip install --quiet '.[manylinux]'
	rm -rf build dist/raw dist/$(DIST)-*.whl
	GREETER_ZIG_GLIBC=$(GLIBC) $(PY) -m pip wheel . -w dist/raw --no-deps --no-build-isolation --quiet
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/auditwheel repair --plat $(MANYLINUX) -w dist dist/raw/$(DIST)-*.whl
	$(PY) scripts/check_dist.py wheel dist/$(DIST)-*$(MANYLINUX)*.whl --plat $(MANYLINUX)
	$(BIN)/auditwheel show dist/$(DIST)-*$(MANYLINUX)*.whl

sdist: venv
	rm -f dist/$(DIST)-*.tar.gz
	$(PY) -m build --sdist --outdir dist .
	$(PY) scripts/check_dist.py sdist dist/$(DIST)-*.tar.gz

docs: test
	$(PY) -m pip install --quiet '.[docs]'
	$(BIN)/sphinx-build -W --keep-going -q -b html docs/reference build/docs
	@echo "API reference: build/docs/index.html"

examples: test
	PYTHON=$(PY) bash examples/run.sh

ci:
	bash .ci/run

clean:
	rm -rf build dist *.egg-info greeter/_greeter_cffi.c greeter/*.so greeter/include
	cd rust && cargo clean
