# Everything runs inside .venv, built from uv.lock; a pinned uv is bootstrapped into .tools.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
# Imports read precompiled bytecode even where PYTHONDONTWRITEBYTECODE is set (as in CI).
export UV_COMPILE_BYTECODE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: run test lint bench ui env clean

run: $(VENV)/.synced
	$(VENV)/bin/python -m ticket_assets run

test: $(VENV)/.synced
	$(VENV)/bin/python -m pytest -n 2

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check ticket_assets ticket_assets_tests bench
	$(VENV)/bin/ruff format --check ticket_assets ticket_assets_tests bench

bench: $(VENV)/.synced
	$(VENV)/bin/python bench/end_to_end.py
	$(VENV)/bin/python bench/llm_throughput.py

ui: $(VENV)/.synced
	$(VENV)/bin/python -m ticket_assets ui

env: $(VENV)/.synced

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-groups
	touch $@

clean:
	rm -rf $(VENV) .tools
