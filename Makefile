# imdb-lstm: `make demo` and `make test` set themselves up from nothing (a virtualenv in .venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch first: a bare `torch` requirement pulls a multi-GB CUDA build on Linux.
# On a machine without a local torch wheel: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?=
# Extra arguments of `make model`, e.g. MODEL_ARGS="--dataset /data/imdb" (see imdb-lstm-build-default --help).
MODEL_ARGS ?=
# The clearly positive review `make demo` classifies next to the study's (negative) example.
DEMO_REVIEW := One of the best films I have seen in years: moving, funny and beautifully acted.

.PHONY: setup browser demo model test test-fast test-kernels clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# Headless Chromium and its driver for the demo's browser test (tests/test_demo.py), from Debian's packages; as
# root only (CI): elsewhere install them yourself, or that one test is skipped.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	else echo "note: chromium/chromedriver missing (apt-get install chromium chromium-driver as root); the browser test will be skipped"; fi

# First the model shipped in the package (imdb_lstm.DEFAULT_MODEL; imdb-lstm-predict's default): the study's example
# review and a clearly positive one, verdicts and the words behind them, in seconds and without training. Then a
# small model trained now on the shipped IMDB sample (configs/demo.json into outputs/demo/) on the same two reviews.
demo: setup
	@echo "== the shipped model (imdb_lstm/default_model): no training"
	HF_HUB_OFFLINE=1 $(BIN)/imdb-lstm-predict --example --explain "$(DEMO_REVIEW)"
	@echo "== training a small model on the 2,000 sample reviews (configs/demo.json into outputs/demo; a few minutes)"
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/train.py configs/demo.json
	@echo "== a small model trained now on the 2,000 sample reviews (outputs/demo)"
	HF_HUB_OFFLINE=1 $(BIN)/imdb-lstm-predict --model outputs/demo --example --explain "$(DEMO_REVIEW)"

# Rebuild the shipped default model (imdb_lstm/default_model) from nothing: word vectors, classifier, compression,
# test scored once; about half an hour on a 2-core CPU; needs ../shared/data/imdb or --dataset (MODEL_ARGS="--dataset DIR").
model: setup
	HF_HUB_OFFLINE=1 $(BIN)/imdb-lstm-build-default configs/default_model.json $(MODEL_ARGS)

test: setup browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# The tests marked `float_sensitive` (their floats come from kernels another CPU may choose differently) once more
# under other kernel choices: PyTorch's generic kernels, then oneDNN capped at AVX2. A test that passes under one
# choice and fails under another asserts bits it cannot own. CI runs this after `make test`. oneDNN capped at AVX2
# cannot build a bfloat16 LSTM at all (PyTorch still sends it there on a CPU with bfloat16), so the tests that force
# bfloat16 run only under the generic kernels.
test-kernels: setup
	HF_HUB_OFFLINE=1 ATEN_CPU_CAPABILITY=default $(BIN)/python -m pytest -m float_sensitive $(PYTEST_ARGS)
	HF_HUB_OFFLINE=1 ONEDNN_MAX_CPU_ISA=AVX2 $(BIN)/python -m pytest -m "float_sensitive and not forces_bfloat16" $(PYTEST_ARGS)

# The suite without the tests marked `slow` (multi-process training, resume after a kill, seed reproducibility,
# the learning check, benchmarks smoke runs, every console script's --help, the Hub round trips of 30 s and more):
# for quick feedback while editing; `make test` before committing. Every test fails after pyproject's `timeout`.
test-fast: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) outputs .pytest_cache
