# Everything a fresh machine with only python3 needs: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format bench golden loss-golden convention-golden cityscapes-golden sample-data browser screenshots clean

# The venv is rebuilt when pyproject.toml changes; the stamp files record which extras it has.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[fast,losses]'
	touch $@

# The tests also run the optional Dask executor and object-storage URLs.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,fast,losses,boundary,dask,cloud,medical]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/segeval score sample_data/pred sample_data/gt --class-names sample_data/class_names.txt

test: $(VENV)/.installed-test browser lint
	$(BIN)/python -m pytest -q

# Headless Chromium for tests/test_browser.py: Debian's package, never a browser download
# (Playwright drives the system executable). Without it those tests skip, unless
# SEGEVAL_REQUIRE_BROWSER=1 (set by .ci/run) makes them fail.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "make: chromium could not be installed; the browser tests will be skipped"

# Rewrites docs/report-*.png from the browser tests: look at them before committing.
screenshots: $(VENV)/.installed-test browser
	SEGEVAL_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/test_browser.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Rewrites tests/golden/ from the current code: review the diff before committing it.
golden: $(VENV)/.installed-test
	SEGEVAL_REGENERATE_GOLDEN=1 $(BIN)/python -m pytest -q -k golden tests

# The loss tests' reference values (tests/golden/losses/) from PyTorch, torchvision's
# focal formula, segmentation-models-pytorch and MONAI, in a venv of their own: never
# part of `make test` (PyTorch is too large for CI). The versions are pinned. The plain
# torch wheel pulls several GB of CUDA libraries: set TORCH_INDEX to PyTorch's CPU wheel
# index where you can reach it (on this project's machines a CPU wheel of 2.13.0 is on
# disk and plain pip takes it). Reuse a venv with LOSS_GOLDEN_PYTHON=/path/to/bin/python.
# Review the diff before committing it (the fixtures are seeded: same versions,
# same bytes).
LOSS_GOLDEN_VENV ?= .venv-loss-golden
LOSS_GOLDEN_PYTHON ?= $(LOSS_GOLDEN_VENV)/bin/python
TORCH_INDEX ?=
TORCH_FROM := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)

$(LOSS_GOLDEN_VENV)/bin/python:
	$(PYTHON) -m venv $(LOSS_GOLDEN_VENV)
	$@ -m pip install --quiet --upgrade pip
	$@ -m pip install --quiet $(TORCH_FROM) 'torch==2.13.0'
	$@ -m pip install --quiet --no-deps 'segmentation-models-pytorch==0.6.0' 'monai==1.6.1'
	$@ -m pip install --quiet 'numpy>=2' scipy

loss-golden: $(LOSS_GOLDEN_PYTHON)
	$(LOSS_GOLDEN_PYTHON) scripts/make_loss_golden.py tests/golden/losses

# Reference numbers of the --convention presets from the tools' own code (mmsegmentation,
# torchmetrics, MONAI, ADE20K), in a venv of their own: PyTorch is too large for CI, so the
# tests read tests/golden/conventions.json. REF_VENV=/path reuses an existing venv.
REF_VENV ?= .venv-reference

$(REF_VENV)/.installed: scripts/reference-requirements.txt
	$(PYTHON) -m venv $(REF_VENV)
	$(REF_VENV)/bin/python -m pip install --quiet $(TORCH_FROM) 'torch==2.13.0'
	$(REF_VENV)/bin/python -m pip install --quiet -c scripts/reference-requirements.txt \
		-r scripts/reference-requirements.txt
	touch $@

convention-golden: $(REF_VENV)/.installed
	$(REF_VENV)/bin/python scripts/make_convention_golden.py tests/golden/conventions.json

# The official Cityscapes evaluator's class/category IoU and iIoU on a synthetic set with
# instances (tests/golden/cityscapes_instances), in its own venv: it needs numpy < 2.4.
CITYSCAPES_VENV ?= .venv-cityscapes

$(CITYSCAPES_VENV)/bin/python:
	$(PYTHON) -m venv $(CITYSCAPES_VENV)
	$@ -m pip install --quiet 'numpy<2.4' 'cityscapesscripts==2.3.0' pillow

cityscapes-golden: $(CITYSCAPES_VENV)/bin/python
	$(CITYSCAPES_VENV)/bin/python scripts/make_cityscapes_golden.py tests/golden/cityscapes_instances

# The volumes need nibabel (the medical extra, part of the test venv).
sample-data: $(VENV)/.installed-test
	$(BIN)/python scripts/make_sample_data.py sample_data
	$(BIN)/python scripts/make_volumes.py sample_data/volumes --mismatch

# Speed lives here, not in the tests: regenerates docs/performance.md from one run.
# Optional baselines: `pip install torch torchmetrics` into .venv, and
# `bash benchmarks/cityscapes_baseline/setup.sh` for the official Cityscapes evaluator.
bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[test,fast,losses,boundary,dask,cloud,bench]'
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) $(LOSS_GOLDEN_VENV) $(REF_VENV) .pytest_cache .mypy_cache .ruff_cache
