# The two commands of the README: `make demo` and `make test`. Both set up first (idempotent).
VENV ?= .venv
CORES ?= 2
export PATH := $(abspath $(VENV))/bin:$(PATH)
SNAKEMAKE = snakemake --cores $(CORES) --rerun-incomplete --printshellcmds

.PHONY: setup demo demo-report test lint

setup:
	bash scripts/setup.sh

## demo: the whole DAG on presets/demo.yaml (CHGNet surrogate labels), ending in the ranking report
demo: setup
	$(SNAKEMAKE) --configfile presets/demo.yaml
	$(SNAKEMAKE) --configfile presets/demo.yaml --report results/report/report.html
	@echo "Ranking: results/report/ranking.md   HTML report: results/report/report.html"

## test: unit + integration tests (real GPAW on tiny cells, tiny end-to-end workflow)
test: setup
	python -m pytest -q -rs

lint: setup
	ruff check . && ruff format --check .
	snakefmt --check Snakefile rules/
	snakemake --lint --configfile presets/tiny.yaml
