# The two commands of the README: `make demo` and `make test`. Both set up first (idempotent).
VENV ?= .venv
CORES ?= 2
# pytest-xdist workers for `make test`: the machine's cores, at most 4 (each worker holds torch,
# CHGNet and GPAW; the GPAW/MPI and workflow tests start 2 processes of their own)
TEST_WORKERS ?= $(shell python3 -c 'import os; print(max(1, min(4, len(os.sched_getaffinity(0)))))')
export PATH := $(abspath $(VENV))/bin:$(PATH)
SNAKEMAKE = snakemake --cores $(CORES) --rerun-incomplete --printshellcmds

.PHONY: setup demo demo-dft demo-warm-start demo-dft-warm-start test test-quick test-slurm lint

setup:
	bash scripts/setup.sh

## demo: the whole DAG on presets/demo.yaml (CHGNet surrogate labels), ending in the ranking report
demo: setup
	$(SNAKEMAKE) --configfile presets/demo.yaml
	$(SNAKEMAKE) --configfile presets/demo.yaml --report results/demo/report/report.html
	@echo "Ranking: results/demo/report/ranking.md   HTML report: results/demo/report/report.html"

## demo-dft: every architecture and baseline trained on the shipped DFT labels (data/mini/, GPAW at
## reduced settings; presets/demo-dft.yaml: no DFT recomputed), ending in the ranking report and the
## study's table side by side. `make demo` switches to it once >= 300 slabs are shipped (README)
demo-dft: setup
	$(SNAKEMAKE) --configfile presets/demo-dft.yaml
	$(SNAKEMAKE) --configfile presets/demo-dft.yaml --report results/demo-dft/report/report.html
	@echo "Ranking: results/demo-dft/report/ranking.md   Study side by side: results/demo-dft/report/study_comparison.md   HTML report: results/demo-dft/report/report.html"

## demo-warm-start: the demo plus the DFT warm-start experiment (GPAW on 6 held-out test slabs from
## the EOS table, the floor start, the Materials Project default, a uniform 1 uB, the demo's
## cgconv-r3-res and the converged moments), in the same report
WARM_START = --configfile presets/demo.yaml --config 'warm_start={slabs: 6}'
demo-warm-start: setup
	$(SNAKEMAKE) $(WARM_START)
	$(SNAKEMAKE) $(WARM_START) --report results/demo/report/report.html
	@echo "Warm start: results/demo/report/warm_start.md   HTML report: results/demo/report/report.html"

## demo-dft-warm-start: demo-dft plus the DFT warm-start experiment on its magnetic test slabs at the
## labels' own DFT settings (the dft and eos sections of presets/mini.yaml, under
## presets/demo-dft.yaml; each record says whether its settings equal the label's), with the moments
## of WARM_START_MODEL (set it to the best GNN of demo-dft's ranking.md) on WARM_START_SLABS slabs
WARM_START_MODEL ?= schnetconv-r6-res
WARM_START_SLABS ?= 30
WARM_START_DFT = --configfile presets/mini.yaml presets/demo-dft.yaml \
	--config 'warm_start={slabs: $(WARM_START_SLABS), model: $(WARM_START_MODEL)}'
demo-dft-warm-start: setup
	$(SNAKEMAKE) $(WARM_START_DFT)
	$(SNAKEMAKE) $(WARM_START_DFT) --report results/demo-dft/report/report.html
	@echo "Warm start: results/demo-dft/report/warm_start.md   HTML report: results/demo-dft/report/report.html"

## test: unit + integration tests (real GPAW on tiny cells, tiny end-to-end workflow), on
## TEST_WORKERS pytest-xdist workers; a module's tests share one worker (its fixtures run once)
test: setup
	python -m pytest -q -rs -m "not slurm" -n $(TEST_WORKERS) --dist loadscope

## test-quick: the tests not marked slow (no real GPAW relaxation, no end-to-end workflow run)
test-quick: setup
	python -m pytest -q -rs -m "not slurm and not slow" -n $(TEST_WORKERS) --dist loadscope

## test-slurm: (root) install + start a one-node Slurm, run the tiny preset through
## `snakemake --profile slurm` to the report, check every job went through sbatch, stop Slurm
test-slurm: setup
	bash .ci/slurm/run_tiny.sh

lint: setup
	ruff check . && ruff format --check .
	snakefmt --check Snakefile rules/
	snakemake --lint --configfile presets/tiny.yaml
