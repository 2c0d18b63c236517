# The two commands of the README:  `make demo`  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint bench tiny-model clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $(STAMP)

demo: setup
	$(VENV)/bin/gestsearch demo

test: setup
	bash scripts/test.sh

# The quick subset for edit-run loops (tests not marked slow): under a minute.
test-fast: setup
	bash scripts/test.sh -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	for b in bench_trunk bench_index bench_search bench_serve bench_ann bench_store bench_synth bench_media_memory; do $(PY) benchmarks/$$b.py; done

# Release step: retrain the bundled tiny model from scratch and install it (about 2 h on 2 cores;
# benchmarks/README.md, "Training the tiny preset"). Then check it: benchmarks/quality.py.
tiny-model: setup
	$(PY) benchmarks/train_tiny.py runs/tiny --extra-train-clips 750 --epochs 12
	$(PY) scripts/bundle_tiny.py runs/tiny

clean:
	rm -rf $(VENV) gestsearch-demo
