"""Command line: train one model outside Snakemake (same code path as the ``train`` rule).

Run from the workflow directory::

    python -m magmom.training --architecture cgconv --cutoff 4 [--residual] \\
        --config config.yaml [--configfile presets/tiny.yaml] [--out DIR]

Every default path is the workflow's (:class:`magmom.layout.Layout` of the config): graph caches,
model directory (``<results_dir>/models/<model_id>``) and predictions. A re-run after an
interruption resumes from ``<out>/last.pt`` unless ``--fresh``. With ``--test-cache`` the best
checkpoint's test predictions are written too (``--predictions``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from magmom.config import ConfigError, check, config_args
from magmom.layout import ARCHITECTURES, Layout
from magmom.rule_logging import log_to
from magmom.training.device import configure_threads

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"

log = logging.getLogger("magmom.training")


def update_config(base: dict, override: Mapping) -> dict:
    """Merge ``override`` into ``base`` recursively (dicts merge, everything else replaces), as
    Snakemake does for ``--configfile``."""
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            update_config(base[key], value)
        else:
            base[key] = value
    return base


def load_config(config: str | Path, configfiles: Sequence[str | Path] = ()) -> dict[str, Any]:
    """``config`` overlaid with each of ``configfiles`` in order, checked against the schema."""
    merged: dict[str, Any] = {}
    for path in (config, *configfiles):
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        with open(path) as fh:
            loaded = yaml.safe_load(fh) or {}
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"config file {path} does not hold a mapping of keys")
        update_config(merged, loaded)
    if SCHEMA.is_file():
        check(merged, SCHEMA)
    else:
        log.warning("schema %s not found; the configuration is not validated", SCHEMA)
    return merged


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m magmom.training",
        description="Train one magmom21 GNN (per-atom magnetic moments) from graph caches.",
    )
    p.add_argument("--architecture", required=True, choices=ARCHITECTURES)
    p.add_argument("--cutoff", required=True, type=float, help="graph cutoff in Å")
    p.add_argument(
        "--residual", action="store_true", help="learn the deviation from the per-element mean"
    )
    p.add_argument("--config", default="config.yaml", help="base config (default: %(default)s)")
    p.add_argument(
        "--configfile", action="extend", nargs="+", default=[], help="overrides, e.g. a preset"
    )
    p.add_argument("--out", help="model directory (default: <results_dir>/models/<model_id>)")
    p.add_argument("--train-cache", help="training graph cache (default: workflow layout)")
    p.add_argument("--val-cache", help="validation graph cache (default: workflow layout)")
    p.add_argument("--test-cache", help="also predict this cache with the best checkpoint")
    p.add_argument(
        "--predictions", help="predictions CSV (default: <results_dir>/predictions/<id>.csv)"
    )
    p.add_argument("--threads", type=int, default=1, help="cores; loader workers = threads - 1")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda[:i]")
    p.add_argument("--fresh", action="store_true", help="ignore <out>/last.pt and start over")
    p.add_argument("--log", help="append the log here instead of printing it")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return p


def run(args: argparse.Namespace) -> int:
    from magmom.graphs import GraphCache
    from magmom.layout import ModelSpec
    from magmom.training.predict import predict_checkpoint
    from magmom.training.run import train_from_config

    config = load_config(args.config, args.configfile)
    spec = ModelSpec(args.architecture, args.cutoff, args.residual)
    paths = Layout.of(config)
    out = Path(args.out or paths.model_dir(spec.model_id))
    train_path = Path(args.train_cache or paths.graph_cache(spec.cutoff, "train"))
    val_path = Path(args.val_cache or paths.graph_cache(spec.cutoff, "val"))
    for path in (train_path, val_path):
        if not path.exists():
            raise FileNotFoundError(
                f"graph cache {path} does not exist; build it with "
                f"`snakemake {path} {config_args([args.config, *args.configfile])}` "
                "or pass --train-cache/--val-cache"
            )
    configure_threads(args.threads)
    result = train_from_config(
        spec,
        config,
        GraphCache(train_path),
        GraphCache(val_path),
        out,
        threads=args.threads,
        device=args.device,
        resume=not args.fresh,
        progress=not args.no_progress,
        cache_names=(str(train_path), str(val_path)),
    )
    print(
        f"{result.model_id}: best val MAE {result.best_val_mae:.5f} at epoch {result.best_epoch} "
        f"of {result.epochs} ({result.seconds:.1f} s) -> {out / 'best.pt'}"
    )
    if args.test_cache:
        predictions = Path(args.predictions or paths.predictions(spec.model_id))
        predict_checkpoint(
            out / "best.pt",
            GraphCache(args.test_cache),
            predictions,
            device=args.device,
            num_workers=0,
        )
        print(f"predictions -> {predictions}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from magmom.graphs.cache import CacheError
    from magmom.suggestions import suggestion
    from magmom.training.checkpoint import CheckpointError
    from magmom.training.settings import TrainingError

    args = parser().parse_args(argv)
    try:
        with log_to(args.log):
            return run(args)
    except (ConfigError, FileNotFoundError, TrainingError, CheckpointError, CacheError) as exc:
        hint = suggestion(exc)
        print(f"error: {exc}" + (f"\n{hint}" if hint else ""), file=sys.stderr)
        return 1
