# The doors of the hub. `make demo` and `make test` set everything up themselves.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
VENV := .venv
PY := $(VENV)/bin/python
export SANHEYI_HOME ?= $(CURDIR)/var

.PHONY: setup demo test lint bench airflow clean-demo

setup: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	$(UV) sync --frozen --compile-bytecode
	touch $@

demo: setup
	$(PY) -m sanheyi.demo

test: setup
	$(VENV)/bin/pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) bench/run_all.py

airflow: setup
	AIRFLOW_HOME=$(SANHEYI_HOME)/airflow AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	  AIRFLOW__CORE__LOAD_EXAMPLES=False $(VENV)/bin/airflow standalone

clean-demo:
	rm -rf $(SANHEYI_HOME)
