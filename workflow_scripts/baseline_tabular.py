"""Linear or XGBoost baseline on hand-built atom features of one cutoff's graph caches."""

import torch

from magmom.baselines import tabular
from magmom.baselines.atom_features import cache_table, feature_elements, feature_names
from magmom.graphs import GraphCache
from magmom.predictions import write_predictions
from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    torch.set_num_threads(sm.threads)
    cutoff = float(sm.wildcards.cutoff)
    caches = {
        split: GraphCache(sm.input[split], cutoff=cutoff, split=split)
        for split in ("train", "val", "test")
    }
    elements = feature_elements(sm.params.elements, caches.values())
    tables = {
        split: cache_table(cache, elements, desc=f"features r{sm.wildcards.cutoff} {split}")
        for split, cache in caches.items()
    }
    y_pred, reg, summary = tabular.fit_predict(
        sm.wildcards.kind,
        tables["train"],
        tables["test"],
        val=tables["val"],
        xgb_cfg=sm.params.xgboost,
        seed=sm.params.seed,
        threads=sm.threads,
    )
    summary["cutoff"] = cutoff
    tabular.save_regressor(
        reg, sm.wildcards.kind, feature_names(elements), summary, sm.params.model_dir
    )
    test = tables["test"]
    write_predictions(test.predictions(y_pred), sm.output.predictions)
