# Rules of the recipe stage: the slab manifest and the initial structures of every slab, and the
# settings that shape each lattice x family of slabs (an input of their DFT jobs).
from magmom.recipe.slab_settings import FAMILIES as SLAB_FAMILIES, family_settings


include: "helpers/recipe.smk"


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
        code=code_version("slab_recipe.py"),
        recipe=config["recipe"],
    script:
        "../workflow_scripts/slab_recipe.py"


rule slab_settings:
    """The settings that shape the slabs of one lattice x family (magmom/recipe/slab_settings.py):
    an input of their dft_slab jobs, so changing one relabels exactly the slabs it shapes.
    """
    output:
        settings=PATHS.slab_settings("{lattice}", "{family}"),
    log:
        PATHS.log("recipe", "slab_settings-{lattice}-{family}"),
    wildcard_constraints:
        lattice="|".join(LATTICES),
        family="|".join(SLAB_FAMILIES),
    localrule: True
    conda:
        "../envs/recipe.yaml"
    params:
        code=code_version("slab_settings.py"),
        settings=lambda wildcards: family_settings(
            config["recipe"],
            {"eos": config["eos"], "dft": eos_dft_params()},
            wildcards.lattice,
            wildcards.family,
        ),
    script:
        "../workflow_scripts/slab_settings.py"
