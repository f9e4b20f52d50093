"""Per-element-mean baseline: training means from the train cache header -> test predictions."""

from magmom.baselines import element_mean
from magmom.baselines.atom_features import cache_table
from magmom.graphs import GraphCache
from magmom.predictions import write_predictions
from magmom.rule_logging import log_to, script_log

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    train = GraphCache(sm.input.train, split="train")
    test = cache_table(
        GraphCache(sm.input.test, split="test"),
        (),  # no feature columns: the element column comes from the atomic numbers
        with_features=False,
        desc="test atoms",
    )
    y_pred = element_mean.fit_predict(train, test)
    write_predictions(test.predictions(y_pred), sm.output.predictions)
