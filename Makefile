# Everything runs inside .venv, built from uv.lock with the interpreter PYTHON (3.11, 3.12 or
# 3.13: `make run PYTHON=python3.13`); a pinned uv is bootstrapped into .tools.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV ?= .venv
# Which interpreter PYTHON is (its path and version): .venv is rebuilt when it changes. A
# pyenv interpreter that pyenv's shims do not expose (`pyenv global` names another version)
# is found as the newest installed pyenv version of its number.
IDENTIFY := -c 'import sys; print(sys.executable, "%d.%d.%d" % sys.version_info[:3])'
PYTHON_ID := $(shell $(PYTHON) $(IDENTIFY) 2>/dev/null || \
  PYENV_VERSION="$$(pyenv latest $(patsubst python%,%,$(notdir $(PYTHON))) 2>/dev/null)" \
  $(PYTHON) $(IDENTIFY) 2>/dev/null)
PYTHON_EXE := $(firstword $(PYTHON_ID))
export UV_PYTHON_DOWNLOADS := never
# Imports read precompiled bytecode even where PYTHONDONTWRITEBYTECODE is set (as in CI).
export UV_COMPILE_BYTECODE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
# The UI test screenshots the asset graph with Debian's chromium (playwright downloads nothing).
CHROMIUM := /usr/bin/chromium
# Scale-out tests start their own PostgreSQL server from Debian's postgresql-15.
POSTGRES_INITDB := /usr/lib/postgresql/15/bin/initdb

.PHONY: run test lint bench ui env clean wheel FORCE

run: $(VENV)/.synced
	$(VENV)/bin/python -m ticket_assets run

test: $(VENV)/.synced $(CHROMIUM) $(POSTGRES_INITDB)
	$(VENV)/bin/python -m pytest -n 2

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check ticket_assets ticket_assets_tests bench
	$(VENV)/bin/ruff format --check ticket_assets ticket_assets_tests bench
	$(VENV)/bin/lint-imports --no-cache

bench: $(VENV)/.synced
	$(VENV)/bin/python bench/end_to_end.py
	$(VENV)/bin/python bench/llm_throughput.py
	$(VENV)/bin/python bench/ui_backfill.py

ui: $(VENV)/.synced
	$(VENV)/bin/python -m ticket_assets ui

env: $(VENV)/.synced

# (After the check that PYTHON is an interpreter; not rebuilt when it changes.)
$(UV): | $(VENV).python
	@echo "setting up: installing uv $(UV_VERSION) into .tools/"
	$(PYTHON_EXE) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The wheel (dist/), with the default config, prompts and tables inside.
wheel: $(UV)
	$(UV) build --wheel

$(VENV)/.synced: $(VENV).python $(UV) pyproject.toml uv.lock
	@echo "setting up: installing the locked dependencies into $(VENV)/ for Python" \
	  "$(lastword $(PYTHON_ID)) and compiling their bytecode (the first time: a minute or" \
	  "two, then seconds)"
	$(UV) sync --frozen --all-groups --python "$(PYTHON_EXE)"
	touch $@

# Rewritten only when PYTHON names another interpreter, so that .venv follows it.
$(VENV).python: FORCE
	@test -n "$(PYTHON_ID)" || { echo "error: $(PYTHON) is not a Python interpreter;" \
	  "set PYTHON to python3.11, python3.12 or python3.13" >&2; exit 1; }
	@echo "$(PYTHON_ID)" | cmp -s - $@ || echo "$(PYTHON_ID)" > $@

$(CHROMIUM):
	@echo "installing chromium with apt-get (the UI test screenshots the asset graph with it)"
	@sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	{ $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends chromium; } \
	|| { echo "error: could not install chromium; install Debian's chromium package" \
	  "(apt-get install chromium) and rerun make test" >&2; exit 1; }

$(POSTGRES_INITDB):
	@echo "installing postgresql-15 with apt-get (scale-out tests start their own PostgreSQL)"
	@sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	{ $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends postgresql-15; } \
	|| { echo "error: could not install postgresql-15; install Debian's postgresql-15 package" \
	  "(apt-get install postgresql-15) and rerun make test" >&2; exit 1; }

clean:
	rm -rf $(VENV) $(VENV).python .tools dist
