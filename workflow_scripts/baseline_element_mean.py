"""Per-element-mean baseline: training means from the train cache header -> test predictions."""

from magmom.baselines import element_mean
from magmom.baselines.atom_features import cache_table, predictions_frame
from magmom.graphs import GraphCache
from magmom.rule_logging import log_to, script_log
from magmom.training.predict import write_predictions

with log_to(script_log(snakemake)):  # noqa: F821
    sm = snakemake  # noqa: F821
    train = GraphCache(sm.input.train, split="train")
    test = cache_table(
        GraphCache(sm.input.test, split="test"),
        sm.params.elements,
        with_features=False,
        desc="test atoms",
    )
    y_pred = element_mean.fit_predict(train, test)
    write_predictions(predictions_frame(test.atoms, test.y, y_pred), sm.output.predictions)
