# Two commands matter: `make run` and `make test`. Both create .venv on first use and skip the install after.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow lint setup system-deps clean model model-smoke label-efficiency

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

run: $(STAMP)  ## what this installation loads, then a scripted call through the default flow
	bash scripts/demo.sh

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m 'slow'

lint: $(STAMP)
	$(BIN)/ruff check ivr tests training bench
	$(BIN)/ruff format --check ivr tests training bench
	$(BIN)/mypy

model: $(STAMP)  ## train the shipped model end to end (2 CPU cores: 2 h to 2 h 40 min with AVX-512 BF16 on AMD EPYC, ~5-6.5 h elsewhere; resumable)
	bash training/make_model.sh

model-smoke: $(STAMP)  ## the same recipe on ~100 clips and a few steps (~2 minutes)
	bash training/make_model.sh --smoke

label-efficiency: $(STAMP)  ## accuracy vs labels per intent, pre-trained vs from scratch (docs/label_efficiency.png)
	$(BIN)/python -m training.experiments labels

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
