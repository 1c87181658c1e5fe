# Two commands do all set-up on a fresh machine:
#   make demo   venv + install + simulate the shipped default workload (MNIST, offline)
#   make test   venv + install with the train and dev extras + the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache

.PHONY: demo test install install-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

# PyTorch pinned first: 2.13.0 is a local CPU build here (a wheel in /opt/wheels where
# that exists); an unpinned torch pulls a multi-GB CUDA build.
LOCAL_WHEELS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

# The NIR interop tests run real snnTorch and SpikingJelly exports: constraints.txt keeps
# torch at 2.13.0 while they install; SpikingJelly 2.0 declares torchvision, torchaudio,
# tensorboard, ... that its NIR exporter never imports, so it comes without them
# (--no-deps) and its one import beyond torch and nir, loguru, comes from the interop-test extra.
install-dev: $(BIN)/python
	$(BIN)/pip install -q $(LOCAL_WHEELS) torch==2.13.0
	$(BIN)/pip install -q $(LOCAL_WHEELS) -c constraints.txt -e '.[train,dev,nir,interop-test]'
	$(BIN)/pip install -q --no-deps spikingjelly==2.0.0

demo: install
	$(BIN)/bsnn-sim run workloads/mnist_resnet.toml --arch arch_configs/stt_bsnn_65nm.toml --timing-images 1000

test: install-dev
	$(BIN)/python -m pytest -q

bench: install-dev
	$(BIN)/python benchmarks/functional_throughput.py

clean:
	rm -rf $(VENV) .numba_cache .pytest_cache .hypothesis
