# Helpers of the recipe stage (rules/recipe.smk): input, params and resource functions and their
# constants.
from magmom.recipe.table_files import table_paths as study_table_paths


def recipe_tables(wildcards):
    """The study's tables the recipe reads (recipe.source: study_tables), else nothing."""
    if config["recipe"].get("source") != "study_tables":
        return {}
    return {k: str(p) for k, p in study_table_paths(config["recipe"]).items()}
