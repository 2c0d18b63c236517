# The two commands of the README:  `make demo`  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint bench clean

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
	for b in bench_trunk bench_index bench_search bench_ann bench_store bench_synth bench_media_memory; do $(PY) benchmarks/$$b.py; done

clean:
	rm -rf $(VENV) gestsearch-demo
