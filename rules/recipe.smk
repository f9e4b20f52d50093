# Rules of the recipe stage: the slab manifest and the initial structures of every slab.


rule slab_recipe:
    """Enumerate the magmom21 recipe (config `recipe`) and build each slab's initial structure."""
    input:
        unpack(recipe_tables),
        lattice_table=f"{RESULTS}/eos/lattice_table.json",
    output:
        manifest=f"{RESULTS}/recipe/slabs.csv",
        slabs=f"{RESULTS}/recipe/initial_slabs.db",
    log:
        f"{LOGS}/recipe/slab_recipe.log",
    conda:
        "../envs/recipe.yaml"
    resources:
        runtime=60,
    params:
        recipe=config["recipe"],
    script:
        "../workflow_scripts/slab_recipe.py"
