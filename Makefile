# The one place that installs anything. `make run` and `make test` each build .venv by themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: run test lint bench loadtest clean

# The stamp files make the second run quick: pip runs again only when a requirements file changes.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install $(PIP_QUIET) -r requirements.txt 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import torch, streamlit, plotly, sklearn, skimage, umap"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(BIN)/pip install $(PIP_QUIET) -r requirements-test.txt 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import pytest, playwright"
	touch $@

run: $(VENV)/.installed
	$(BIN)/streamlit run app.py

# Browser tests need Debian's chromium and chromium-driver (never a downloaded browser).
test: $(VENV)/.installed-test
	@command -v chromium >/dev/null || { echo "installing Debian chromium for the browser test"; \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "could not install chromium: the browser test will be skipped"; }
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: $(VENV)/.installed-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(VENV)/.installed
	$(BIN)/python -m dann_demo bench

# 30 simulated students in headless Chromium against a real `streamlit run` (README, "A class of 30").
loadtest: $(VENV)/.installed-test
	$(BIN)/python scripts/loadtest.py

clean:
	rm -rf $(VENV) .pytest_cache
