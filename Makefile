# mappo-lite: set up, build the book, run the tests.
#
#   make book   create .venv if needed, install the pinned toolchain, build the whole book
#               (every chapter executed; any cell error or Sphinx warning fails the build)
#   make test   same setup, then `make lint` and the test suite
#   make lint   ruff check (lint) and ruff format --check (formatting), configured in pyproject.toml
#   make test-portable  the library tests, every chapter and every assignment's instructor solution again, under
#               another floating-point path (generic-CPU numba, baseline-SIMD NumPy, another OpenBLAS kernel)
#   make book-student   the student edition (no exercise solutions) in _build/student/html, made from the
#               notebooks that `make book` executed (built first if missing or out of date)
#   make clean  remove build output and caches (keeps .venv); `make distclean` also removes .venv
#
# Works offline except for the package registry used by pip.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mappo-lite-installed

# numba writes its on-disk cache here (ignored by git), not next to the sources.
export NUMBA_CACHE_DIR := $(CURDIR)/.numba_cache
# One BLAS thread: the kernels are single-threaded, the test suite runs two workers on two cores, and a
# multithreaded BLAS on small solves oversubscribes them (a 400x400 solve: 2 ms with one thread, 10-30 ms with two).
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
# Do NOT export MPLBACKEND=Agg: it would override the kernels' inline backend and the book's figures
# would render as '<Figure size ...>' text. Without a display, matplotlib already falls back to Agg.
# Silence debugpy's 'frozen modules' notice that every kernel start prints on stderr.
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# pytest workers: 2 (the target machine has 2 cores); override with `make test PYTEST_WORKERS=0`.
PYTEST_WORKERS ?= 2
PYTEST_ARGS    ?=
# `make test` ends with the suite's slowest tests (where its time goes; 0 turns the list off).
PYTEST_DURATIONS ?= 15

.PHONY: lock venv book book-student slides lint test test-fast test-portable test-clients clean distclean

venv: $(STAMP)

# Re-install only when the requirements or the package metadata changed.
# constraints.txt pins every package the requirements pull in (pip freeze of a fresh venv, `make lock`), so a fresh
# machine installs exactly the tested set, transitive dependencies included.
$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip -c constraints.txt
	$(BIN)/python -m pip install -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install -e . --no-deps
	touch $@

# Re-make constraints.txt after changing requirements.txt: install the requirements into a new, empty venv and
# freeze it (tests/test_lock.py fails while constraints.txt and requirements.txt disagree).
LOCK_VENV := _build/lock-venv
lock:
	rm -rf $(LOCK_VENV) && mkdir -p _build && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install -q -r requirements.txt
	{ echo "# Every package of a fresh venv made from requirements.txt (make lock); make venv installs with -c constraints.txt."; \
	  $(LOCK_VENV)/bin/python -m pip freeze --all --exclude-editable | LC_ALL=C sort -f; } > constraints.txt
	rm -rf $(LOCK_VENV)

# Build the whole book from the top-level _config.yml / _toc.yml into _build/html.
# --all: re-read (and so re-execute) every page on every build. Without it Sphinx re-reads only pages
#        whose source changed, so a change in mappo_lite would not re-run the chapters, and warnings of
#        unchanged pages would not be reported again.
# -n: nitpicky (broken references are warnings), -W: warnings are errors,
# --keep-going: report every warning before failing.
# The stamp (_build/.book-build.json: a digest of the sources and installed packages) lets the tests and
# `make book-student` reuse this build instead of executing every chapter again (book/_ext/book_editions.py).
book: venv
	@rm -f _build/.book-build.json && mkdir -p _build
	@$(BIN)/python book/_ext/book_editions.py digest > _build/.book-digest
	$(BIN)/jupyter-book build . --all -n -W --keep-going
	@$(BIN)/python book/_ext/book_editions.py stamp --digest "$$(cat _build/.book-digest)"
	@echo "Book built: $(CURDIR)/_build/html/index.html"

# The same pages without any exercise solution (cut out of the executed notebooks of the book's build, which is
# reused when current and built otherwise); nothing is executed again. Warnings are errors here too.
book-student: venv
	$(BIN)/python book/_ext/book_editions.py student

# Lecture slides (book/_ext/slides.py): one reveal.js deck per chapter in _build/slides/<chapter>.html and a PDF
# handout next to it, plus the students' decks in _build/slides/student/, cut out of the built book's pages (the
# book is built first if missing or out of date); nothing is executed again.
slides: venv
	$(BIN)/python book/_ext/slides.py build

# Lint and formatting (ruff, pinned in requirements.txt, configured in pyproject.toml); `ruff format .` fixes the
# formatting, `ruff check --fix .` most lint findings.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Before the pytest workers start, one process compiles (and caches) what numba builds at import time: two workers
# compiling and caching quantecon's guvectorize functions at once left a cache that neither could load ('LLVM ERROR:
# Symbol not found'), and every worker after it aborted. (`make clean` removes a broken cache.)
WARM_NUMBA := -c "import quantecon, mappo_lite, mappo_lite.kernels"

test: venv lint
	$(BIN)/python $(WARM_NUMBA)
	$(BIN)/python -m pytest -q $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS)) \
	    $(if $(filter-out 0,$(PYTEST_DURATIONS)),--durations=$(PYTEST_DURATIONS)) $(PYTEST_ARGS)

# The portability pass: the library tests (which grade every assignment's instructor edition) and every chapter,
# executed again with numba compiled for a generic CPU, NumPy restricted to its baseline SIMD and OpenBLAS forced
# to another kernel (tests/portable_env.py chooses them for this machine and checks that each takes effect).
# The whole-book build, the browser and the student-edition checks are not repeated: they read the same cells.
test-portable: venv
	$(BIN)/python tests/portable_env.py -- $(BIN)/python $(WARM_NUMBA)
	$(BIN)/python tests/portable_env.py -- $(BIN)/python -m pytest -q -p no:cacheprovider \
	    $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS)) \
	    -m "(not chapter or portable) and not clients" $(PYTEST_ARGS)

# Library tests only (skips executing the chapters).
test-fast: venv
	$(BIN)/python -m pytest -q -m "not chapter and not clients" $(PYTEST_ARGS)

# The graders courses use, each in its own venv under .venv-clients/ (created once; re-created when its pins change):
# nbgrader 0.9.6 and otter-grader 7.0.0 (tests/clients/requirements-*.txt), constrained by requirements.txt. The
# package is re-installed into both from a copy of the working tree (no build/ folder in the checkout), then
# tests/clients/ runs the real round trips (tests/clients/conftest.py; not collected without MAPPO_LITE_CLIENT_VENVS).
CLIENTS := .venv-clients

$(CLIENTS)/%/.stamp: tests/clients/requirements-%.txt requirements.txt
	rm -rf $(CLIENTS)/$*
	$(PYTHON) -m venv $(CLIENTS)/$*
	$(CLIENTS)/$*/bin/python -m pip install -q -r tests/clients/requirements-$*.txt -c requirements.txt
	touch $@

test-clients: venv $(CLIENTS)/nbgrader/.stamp $(CLIENTS)/otter/.stamp
	rm -rf $(CLIENTS)/src && mkdir -p $(CLIENTS)/src
	git ls-files -z -co --exclude-standard | xargs -0 tar -cf - | tar -C $(CLIENTS)/src -xf -
	for c in nbgrader otter; do \
	  $(CLIENTS)/$$c/bin/python -m pip install -q --force-reinstall --no-deps $(CLIENTS)/src \
	  && $(CLIENTS)/$$c/bin/python -m pip install -q "$(CLIENTS)/src[course]" -c requirements.txt || exit 1; \
	done
	MAPPO_LITE_CLIENT_VENVS=$(CURDIR)/$(CLIENTS) NBGRADER_PYTHON=$(CURDIR)/$(CLIENTS)/nbgrader/bin/python \
	    $(BIN)/python -m pytest -q -p no:cacheprovider tests/clients \
	    tests/course/test_course.py::test_nbgrader_itself_produces_our_student_notebooks $(PYTEST_ARGS)

clean:
	rm -rf _build .numba_cache .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -type d -name .ipynb_checkpoints -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
