"""Command line: per-atom moments of any structure files from a trained model.

::

    python -m magmom.predict MODEL STRUCTURE... [-o moments.csv] [--structures-out DIR]
                             [--device cpu|cuda|cuda:N] [--batch-size N] [--threads N]

``MODEL`` is a checkpoint (``best.pt``), a model directory or a model id, looked up in
``--results-dir`` (a configuration's ``results_dir``, e.g. ``results/demo``) or, without it, in
every results tree under ``results/``; each ``STRUCTURE`` any file ASE reads (CIF, POSCAR,
extxyz, ASE trajectory; every frame of multi-frame files). Writes the moments CSV, the failures
CSV beside it (``<name>-failures.csv``) and, with ``--structures-out``, one extxyz per input file
with ``initial_magmoms`` set. Exit status: 0 when every frame was predicted, 1 when some were
refused (``--allow-failures`` makes that 0), 2 when none was or the model cannot be loaded.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("magmom.predict")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m magmom.predict",
        description="Predict per-atom magnetic moments (μB) of structures with a trained model.",
    )
    p.add_argument("model", help="checkpoint file, model directory, or model id")
    p.add_argument("structures", nargs="+", help="structure files (any format ASE reads)")
    p.add_argument("-o", "--output", default="moments.csv", help="moments CSV (moments.csv)")
    p.add_argument(
        "--failures", help="failures CSV (default: <output stem>-failures.csv beside it)"
    )
    p.add_argument(
        "--structures-out",
        metavar="DIR",
        help="write each input's predicted frames to DIR/<stem>.extxyz with initial_magmoms",
    )
    p.add_argument("--results-dir", help="results tree of model ids (default: any under results/)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=int, help="structures per batch (default: training's)")
    p.add_argument("--threads", type=int, help="CPU threads of torch")
    p.add_argument(
        "--allow-failures",
        action="store_true",
        help="exit 0 even when some frames were refused (they are in the failures CSV)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def failures_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f"{output.stem}-failures.csv")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import torch

    from magmom.predict.files import predict_files, structure_outputs
    from magmom.predict.predictor import MomentPredictor
    from magmom.suggestions import suggestion
    from magmom.training.checkpoint import CheckpointError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        outputs = (
            structure_outputs(args.structures, args.structures_out) if args.structures_out else None
        )
        predictor = MomentPredictor(
            args.model, device=args.device, batch_size=args.batch_size, results_dir=args.results_dir
        )
    except (FileNotFoundError, CheckpointError, ValueError, RuntimeError) as err:
        hint = suggestion(err)
        log.error("%s", f"{err}\n{hint}" if hint else err)
        return 2
    log.info(
        "model %s (%s): cutoff %g Å, neighbour rule %s (cap %s), target %s, device %s",
        predictor.model_id,
        predictor.checkpoint_path,
        predictor.cutoff,
        predictor.graph["neighbor_rule"],
        predictor.graph["max_neighbors"],
        predictor.target,
        predictor.device,
    )
    summary = predict_files(
        predictor,
        args.structures,
        args.output,
        args.failures or failures_path(args.output),
        outputs,
        progress=not args.quiet,
    )
    if summary.predicted == 0:
        log.error("no structure could be predicted")
        return 2
    if summary.failed and not args.allow_failures:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
