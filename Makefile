# The one place that installs anything. `make run` and `make test` each build .venv by themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --quiet --disable-pip-version-check
# Every install is held to requirements.lock: the versions the tests passed with (Linux x86-64,
# Python 3.11). The lock names no build of torch, so the same file serves the CPU wheel and the CUDA one.
CONSTRAINTS := -c requirements.lock

.PHONY: run test lint bench loadtest cluster screenshots lock clean

# The stamp files make the second run quick: pip runs again only when a requirements file changes.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml | $(BIN)/python
	$(PIP) install $(CONSTRAINTS) -r requirements.txt
	$(PIP) install $(CONSTRAINTS) --no-deps -e .
	$(BIN)/python -c "import torch, streamlit, plotly, sklearn, skimage, umap"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PIP) install $(CONSTRAINTS) -r requirements-test.txt
	$(BIN)/python -c "import pytest, playwright"
	touch $@

run: $(VENV)/.installed
	$(BIN)/streamlit run app.py

# Debian packages a target needs, installed when missing (as root, or where apt-get may run).
define apt_install
	@for pkg in $(1); do \
		command -v $$pkg >/dev/null || [ -x /usr/sbin/$$pkg ] || [ -x /usr/bin/$$pkg ] || { \
			echo "installing Debian $$pkg"; \
			(apt-get update -qq && apt-get install -y -qq $$pkg >/dev/null) \
			|| echo "could not install $$pkg: what needs it will be skipped or refuse to start"; }; \
	done
endef

# Browser tests need Debian's chromium and chromium-driver (never a downloaded browser); the QR test libzbar0;
# the tests of a class beyond one process a real redis-server and haproxy.
test: $(VENV)/.installed-test
	@command -v chromium >/dev/null || { echo "installing Debian chromium for the browser test"; \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "could not install chromium: the browser test will be skipped"; }
	@[ -e /usr/lib/x86_64-linux-gnu/libzbar.so.0 ] || ldconfig -p 2>/dev/null | grep -q libzbar.so.0 || { \
		echo "installing Debian libzbar0 to decode the join screen's QR code"; \
		(apt-get update -qq && apt-get install -y -qq libzbar0 >/dev/null) \
		|| echo "could not install libzbar0: the QR decoding test will be skipped"; }
	$(call apt_install,redis-server haproxy)
	$(BIN)/pip check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# Two runs, each in a random order (pytest-randomly): the library, pages and stores first; then the slow
	@# ones that start real servers and clients (browser and load tests). Exit 5 (nothing collected) fails.
	for marks in "not slow" "slow"; do \
		$(BIN)/python -m pytest -q -m "$$marks"; rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests ($$marks)"; exit 1; fi; \
		[ $$rc -eq 0 ] || exit $$rc; \
	done

lint: $(VENV)/.installed-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(VENV)/.installed
	$(BIN)/dann-playground bench

# 30 simulated students in headless Chromium against a real `streamlit run` (docs/benchmarks.md).
loadtest: $(VENV)/.installed-test
	$(BIN)/python scripts/loadtest.py

# A class beyond one process on this machine: Redis, 2 training workers, 2 app processes behind HAProxy on
# port 8501 (docs/deploy.md). `make run` needs none of it.
cluster: $(VENV)/.installed
	$(call apt_install,redis-server haproxy)
	$(BIN)/python scripts/cluster.py --app-processes 2 --workers 2

# The README's pictures, taken from the real app in headless Chromium.
screenshots: $(VENV)/.installed-test
	$(BIN)/python scripts/screenshots.py

# After changing requirements*.txt: resolve them afresh in a clean venv and pin what it installed.
lock:
	PYTHON=$(PYTHON) bash scripts/lock.sh

clean:
	rm -rf $(VENV) .pytest_cache
