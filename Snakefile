# magmom21: GNNs for per-atom magnetic moments of metal-alloy surface slabs, end to end.
# Stages: EOS (lattice table) -> slab recipe -> per-slab DFT -> dataset -> split -> graph caches
#         -> training -> baselines -> evaluation -> ranking report; users' structures (predict)
#         and the DFT warm-start experiment. Every output goes under the
#         config's results_dir (magmom/layout.py). See README.md and docs/architecture.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/recipe.smk"
include: "rules/dft.smk"
include: "rules/dataset.smk"
include: "rules/split.smk"
include: "rules/graphs.smk"
include: "rules/training.smk"
include: "rules/baselines.smk"
include: "rules/evaluation.smk"
include: "rules/report.smk"
include: "rules/predict.smk"
include: "rules/warm_start.smk"


rule all:
    default_target: True
    input:
        final_targets,
