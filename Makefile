# synthcv: `make demo` renders a small dataset, `make test` runs the test suite.
# Both create .venv on first use and reuse it afterwards (the bpy wheel is ~350 MB).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
DEMO_OUT ?= out/demo

.PHONY: venv demo test test-fast lint bench clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

demo: venv
	$(BIN)/synthcv render configs/demo.yaml --out $(DEMO_OUT) --overwrite
	$(BIN)/synthcv validate $(DEMO_OUT)
	$(BIN)/synthcv augment $(DEMO_OUT) --pipeline configs/augment/qc.yaml --out $(DEMO_OUT)-aug --copies 2 --overwrite
	$(BIN)/synthcv validate $(DEMO_OUT)-aug

test: venv
	$(BIN)/python -m pytest -q tests

test-fast: venv
	$(BIN)/python -m pytest -q -m "not blender" tests

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy render augment

clean:
	rm -rf out .pytest_cache .ruff_cache .mypy_cache
