# Rules of the recipe stage: the slab manifest and the initial structures of every slab.


rule slab_recipe:
    """Enumerate the magmom21 recipe (config `recipe`) and build each slab's initial structure."""
    input:
        unpack(recipe_tables),
        lattice_table=PATHS.lattice_table(),
    output:
        manifest=PATHS.recipe_manifest(),
        slabs=PATHS.initial_slabs(),
    log:
        PATHS.log("recipe", "slab_recipe"),
    conda:
        "../envs/recipe.yaml"
    resources:
        runtime=60,
    params:
        recipe=config["recipe"],
    script:
        "../workflow_scripts/slab_recipe.py"
