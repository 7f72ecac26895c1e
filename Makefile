# synthcv: `make demo` renders a small dataset, `make test` runs the test suite.
# Both create .venv on first use and reuse it afterwards (the bpy wheel is ~350 MB).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock requirements-nodeps.lock pyproject.toml | sha1sum | cut -c1-12)
DEMO_OUT ?= out/demo
# pytest-xdist processes for make test (a test file runs in one of them): 2 on the
# 2-core CI machine (8 min -> 5 min); more cores, more workers.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -lt 2 ] && n=2; [ $$n -gt 8 ] && n=8; echo $$n)

.PHONY: venv models browser demo demo-generic test test-fast lint bench gpu-check clean

venv: $(STAMP)

# One-time per machine: the anny body model the pedestrians family needs, built into
# $$SYNTHCV_CACHE_DIR or ~/.cache/synthcv (1-6 min the first time, instant afterwards).
models: venv
	$(BIN)/synthcv cache build

# The report test opens the HTML report in headless Chromium: Debian's chromium package,
# driven by Playwright (which never downloads a browser of its own here).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { echo "installing Debian's chromium for the report test (once)"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

$(STAMP): requirements.lock requirements-nodeps.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip==26.3 setuptools==84.2.1 wheel==0.48.0
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

# Each scene family, a few scenes: the defective-product preset (4 scenes at 512x512) and
# the pedestrians preset (3 scenes at 640x480), ~3-4 min of Cycles on 2 CPU cores; each
# augmented (QC / street pipelines), every output validated, contact sheets to look at.
demo: models
	$(BIN)/synthcv render configs/defects.yaml --out $(DEMO_OUT)/defects --overwrite --set num_scenes=4
	$(BIN)/synthcv validate $(DEMO_OUT)/defects
	$(BIN)/synthcv augment $(DEMO_OUT)/defects --pipeline configs/augment/qc.yaml --out $(DEMO_OUT)/defects-aug --copies 2 --overwrite
	$(BIN)/synthcv validate $(DEMO_OUT)/defects-aug
	$(BIN)/python scripts/contact_sheet.py $(DEMO_OUT)/defects --out $(DEMO_OUT)/defects/sheet.png -n 4 --cols 2 --size 512
	$(BIN)/synthcv report $(DEMO_OUT)/defects --no-progress
	$(BIN)/synthcv render configs/pedestrians.yaml --out $(DEMO_OUT)/pedestrians --overwrite --set num_scenes=3
	$(BIN)/synthcv validate $(DEMO_OUT)/pedestrians
	$(BIN)/synthcv augment $(DEMO_OUT)/pedestrians --pipeline configs/augment/street.yaml --out $(DEMO_OUT)/pedestrians-aug --copies 2 --overwrite
	$(BIN)/synthcv validate $(DEMO_OUT)/pedestrians-aug
	$(BIN)/python scripts/contact_sheet.py $(DEMO_OUT)/pedestrians --out $(DEMO_OUT)/pedestrians/sheet.png -n 3 --cols 3 --size 640
	$(BIN)/synthcv report $(DEMO_OUT)/pedestrians --no-progress
	@echo "demo: datasets in $(DEMO_OUT)/{defects,pedestrians}, augmented copies beside them; open report.html and sheet.png in each"

# The generic family (primitives and meshes on a ground plane), 12 images at 256x256.
demo-generic: venv
	$(BIN)/synthcv render configs/demo.yaml --out out/demo-generic --overwrite
	$(BIN)/synthcv validate out/demo-generic

test: models browser
	$(BIN)/python -c "import ray" 2>/dev/null || $(BIN)/python -m pip install -q "ray[default]==2.60.0"  # [cluster] extra: tests/test_ray.py
	$(BIN)/ruff check render augment scripts tests
	CI=$${CI:-1} $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

test-fast: models
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

# On a machine with an NVIDIA GPU: gpu tests, each family's preset rendered with OptiX,
# CUDA and the CPU, a few training steps of each recipe (AMP); one JSON, < 8 min on an
# H100 (scripts/gpu_check.py; figures go into docs/benchmarks.md). Refuses without a GPU.
gpu-check: models
	$(BIN)/python scripts/gpu_check.py --out gpu_check.json

clean:
	rm -rf out .pytest_cache .ruff_cache .mypy_cache
