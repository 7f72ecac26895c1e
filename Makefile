# synthcv: `make demo` renders a small dataset, `make test` runs the test suite.
# Both create .venv on first use and reuse it afterwards (the bpy wheel is ~350 MB).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
DEMO_OUT ?= out/demo

.PHONY: venv demo demo-generic test test-fast lint bench clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip==26.3 setuptools==84.2.1 wheel==0.48.0
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

# The defective-product preset, 4 scenes at 512x512 (~1-2 min of Cycles on 2 CPU cores),
# then the QC augmentation pipeline, each output validated, and a contact sheet to look at.
demo: venv
	$(BIN)/synthcv render configs/defects.yaml --out $(DEMO_OUT) --overwrite --set num_scenes=4
	$(BIN)/synthcv validate $(DEMO_OUT)
	$(BIN)/synthcv augment $(DEMO_OUT) --pipeline configs/augment/qc.yaml --out $(DEMO_OUT)-aug --copies 2 --overwrite
	$(BIN)/synthcv validate $(DEMO_OUT)-aug
	$(BIN)/python scripts/contact_sheet.py $(DEMO_OUT) --out $(DEMO_OUT)/sheet.png -n 4 --cols 2 --size 512
	@echo "demo: dataset in $(DEMO_OUT), augmented copy in $(DEMO_OUT)-aug, overlays in $(DEMO_OUT)/sheet.png"

# The generic family (primitives and meshes on a ground plane), 12 images at 256x256.
demo-generic: venv
	$(BIN)/synthcv render configs/demo.yaml --out out/demo-generic --overwrite
	$(BIN)/synthcv validate out/demo-generic

test: venv
	$(BIN)/ruff check render augment scripts tests
	$(BIN)/python -m pytest -q tests

test-fast: venv
	$(BIN)/python -m pytest -q -m "not blender" tests

lint: venv
	$(BIN)/ruff check render augment scripts tests
	$(BIN)/ruff format --check render augment scripts tests
	$(BIN)/mypy render augment

# Benchmarks print JSON (figures in docs/benchmarks.md). bench_writer.py (~10 min) separately.
bench: venv
	$(BIN)/python scripts/bench_core.py
	$(BIN)/python scripts/bench_defects.py
	$(BIN)/python scripts/bench_augment.py

clean:
	rm -rf out .pytest_cache .ruff_cache .mypy_cache
