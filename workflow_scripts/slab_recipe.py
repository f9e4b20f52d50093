"""Rule slab_recipe: write recipe/slabs.csv and recipe/initial_slabs.db."""

from magmom.recipe.stage import run_slab_recipe
from magmom.rule_logging import log_to, script_log

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with log_to(script_log(snakemake)):
    run_slab_recipe(
        recipe=snakemake.params.recipe,
        lattice_table_path=snakemake.input.lattice_table,
        manifest_path=snakemake.output.manifest,
        slabs_path=snakemake.output.slabs,
    )
