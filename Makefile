# motionlora — `make setup` builds .venv, `make test` runs the suite, `make run` runs the pipeline.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU wheel by default. For a GPU build: make setup TORCH_SPEC="torch==2.13.0" TORCH_INDEX_URL=<your CUDA wheel index>
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX_URL ?=
PYTEST_ARGS ?=

export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup data test test-fast docs run ui bench bench-gpu image lock clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(PY) -m pip install --quiet -c requirements/lock.txt -e ".[test]"
	touch $@

# The sample clips in data/ come from the DVC remote (by default .dvc-storage/ in the repo: no network).
data: setup
	DVC_NO_ANALYTICS=1 $(VENV)/bin/dvc pull --quiet

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
test: setup
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

# The edit loop: tests/unit without the tests marked slow (`make test` runs those too, and CI runs `make test`).
test-fast: setup
	$(PY) -m pytest tests/unit -m "not slow" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

# README's settings tables, rewritten from the settings classes (a unit test fails when they differ).
docs: setup
	$(PY) -m motionlora.settings_docs README.md

# The whole pipeline on kfp.local: DVC sample clips, tiny base model, MLflow in ./mlflow.db.
run: setup data
	$(PY) -m pipelines run-local

# The MLflow UI over what `make run` writes: mlflow.db, artifacts in mlartifacts/.
ui: setup
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

# Speed and memory benchmarks (on an idle machine): they print tables and record the headline numbers,
# with model, machine and date, in benchmarks/results.json; benchmarks/RESULTS.md holds the write-up.
# The tiny-model runs come first: the shapes-model runs after them are the ones results.json keeps.
bench: setup
	$(VENV)/bin/motionlora models tiny --out outputs/models/tiny --seed 0
	$(PY) benchmarks/train_vs_reference.py --model outputs/models/tiny --steps 10 --rounds 2
	$(PY) benchmarks/sample_speed.py
	$(PY) benchmarks/train_vs_reference.py --record
	$(PY) benchmarks/sample_speed.py --model models/shapes --guidance 1.0 --steps 20 --compile
	$(PY) benchmarks/ddp_scaling.py --record
	$(PY) benchmarks/zeroscope_memory.py --record
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/decode_throughput.py
	$(PY) benchmarks/hostile_clips.py

# GPU benchmarks at the published model sizes, random weights (sized for under 10 min on one H200); without CUDA: one line, exit 0.
bench-gpu: setup
	$(PY) benchmarks/gpu.py

# One image for every component (needs a Docker engine): make image IMAGE=registry.example.com/motionlora:TAG
IMAGE ?= motionlora:dev
image:
	docker build -f infra/docker/Dockerfile -t $(IMAGE) --build-arg TORCH_SPEC="$(TORCH_SPEC)" \
	  $(if $(TORCH_INDEX_URL),--build-arg TORCH_INDEX_URL=$(TORCH_INDEX_URL)) .

# Re-pin every dependency to what is installed in .venv now (torch is pinned by TORCH_SPEC).
lock: setup
	$(PY) -m pip freeze --exclude-editable | grep -vE '^(torch|motionlora)==' > requirements/lock.txt

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
