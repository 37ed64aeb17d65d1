# Developer tasks. PYTHON is the interpreter with loophooks and its dev extras
# installed, e.g. `make bench PYTHON=/work/venv/bin/python` or an activated venv.
PYTHON ?= python

.PHONY: bench

# The benchmarks (not part of the normal `pytest` run), their JSON, and the
# figures table rewritten into benchmarks/README.md.
bench:
	$(PYTHON) -m pytest benchmarks --benchmark-json=benchmarks/results.json \
		--benchmark-columns=min,median,max,rounds --benchmark-sort=name
	$(PYTHON) benchmarks/report.py benchmarks/results.json
