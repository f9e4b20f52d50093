r"""What the continuous graph (neighbour rule ``radius``, no cap) costs against the capped rules.

On ``--slabs`` study-size slabs (4x4x4, 64 atoms: fcc(111), bcc(110), hcp(0001) in turn, random
alloys of 1-6 of the study's metals, lattice constants scaled by ±8 %, positions rattled by
0.05 Å; :func:`graph_cache.synthetic_slabs` restricted to 64-atom slabs) and for each neighbour
rule (:data:`magmom.layout.NEIGHBOR_RULES`, cap 50 for the capped ones):

1. per cutoff (3/4/6/8 Å): edges per atom, the effective radius (median and largest distance of
   an atom's farthest kept neighbour), the stored record size per slab (the LMDB value written by
   the cache builder, :func:`magmom.graphs.builder.encoded_graph`) and the build time per slab
   (neighbour list + rule + encoding, one process, fastest of 3), extrapolated to the study's
   22,945 slabs as if all had 64 atoms (an upper bound: 2,520 of them have 16);
2. at ``--cutoff`` (8 Å): training throughput (graphs/s of forward + backward + AdamW step on
   batches of ``--batch`` graphs, CPU, one thread) of ``--architectures`` at the study's widths
   (``config.yaml`` ``models``), each timed for about ``--seconds`` after one warm-up step.

Times are CPU time of this (single-threaded) process, so they do not depend on what else runs on
a shared machine. Every row prints its ratio to the ``shell_complete`` rule of the same run (the
cache schema 2 reference).

Run:  .venv/bin/python benchmarks/graph_continuity.py [--slabs 12] [--cutoff 8]
      [--architectures cgconv schnetconv gatv2conv dimenet] [--batch 8] [--seconds 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from magmom.graphs.builder import encoded_graph, graph_arrays
from magmom.layout import NEIGHBOR_RULES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_cache import synthetic_slabs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CUTOFFS = (3.0, 4.0, 6.0, 8.0)
CAP = 50
N_STUDY_SLABS = 22_945
REFERENCE = "shell_complete"
REPEATS = 3  # build times: the fastest of 3 builds of each slab (the machine is shared)


def study_slabs(n: int):
    """``n`` 64-atom slabs of the benchmark mix (every one of graph_cache's 64-atom kind)."""
    return [s for s in synthetic_slabs(4 * n + 8) if len(s.numbers) == 64][:n]


def graph_costs(slabs, cutoff: float, rule: str) -> dict:
    edges = 0
    reaches, nbytes, seconds = [], 0, 0.0
    encoded_graph(slabs[0], cutoff, CAP, "abs", rule=rule)  # warm-up (imports, vesin setup)
    for slab in slabs:
        times = []
        for _ in range(REPEATS):
            t0 = time.process_time()
            record, _, _, counts = encoded_graph(slab, cutoff, CAP, "abs", rule=rule)
            times.append(time.process_time() - t0)
        seconds += min(times)
        nbytes += len(record)
        edges += int(counts.kept.sum())
        reaches.append(counts.reach)
    reach = np.concatenate(reaches)
    atoms = sum(len(s.numbers) for s in slabs)
    return {
        "edges_per_atom": edges / atoms,
        "reach_median": float(np.nanmedian(reach)),
        "reach_max": float(np.nanmax(reach)),
        "kb_per_slab": nbytes / len(slabs) / 1e3,
        "ms_per_slab": 1e3 * seconds / len(slabs),
    }


def throughput(architecture: str, cutoff: float, graphs, batch_size: int, seconds: float) -> float:
    """Graphs/s of training steps (forward, Huber loss, backward, AdamW) on CPU."""
    from torch_geometric.data import Batch

    from magmom.models import build_model
    from magmom.models.magmom_gnn import calibrate_layer_scales

    models_cfg = yaml.safe_load((REPO / "config.yaml").read_text())["models"]
    torch.manual_seed(0)
    model = build_model(architecture, cutoff, models_cfg)
    batches = [
        Batch.from_data_list(graphs[k : k + batch_size])
        for k in range(0, len(graphs) - batch_size + 1, batch_size)
    ]
    calibrate_layer_scales(model, batches[0])
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def step(batch):
        loss = torch.nn.functional.huber_loss(model(batch), batch.y, delta=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(batches[0])  # warm-up
    done, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds or done == 0:
        step(batches[done % len(batches)])
        done += 1
    return done * batch_size / (time.process_time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slabs", type=int, default=12)
    ap.add_argument("--cutoff", type=float, default=8.0)
    ap.add_argument("--architectures", nargs="+", default=["cgconv", "schnetconv", "dimenet"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    slabs = study_slabs(args.slabs)
    print(f"{len(slabs)} slabs of 64 atoms; cap {CAP} for the capped rules; ratios vs {REFERENCE}")

    print("\n1. graphs per cutoff and rule (one process)")
    print(
        f"{'cutoff':>6} {'rule':>15} {'edges/atom':>11} {'reach med':>10} {'reach max':>10} "
        f"{'kB/slab':>8} {'ms/slab':>8} {'study GB':>9} {'study min':>9}  ratio edges/bytes/time"
    )
    for cutoff in CUTOFFS:
        rows = {rule: graph_costs(slabs, cutoff, rule) for rule in NEIGHBOR_RULES}
        ref = rows[REFERENCE]
        for rule, r in rows.items():
            gb = r["kb_per_slab"] * N_STUDY_SLABS / 1e6
            minutes = r["ms_per_slab"] * N_STUDY_SLABS / 6e4
            print(
                f"{cutoff:6g} {rule:>15} {r['edges_per_atom']:11.1f} {r['reach_median']:9.2f}Å "
                f"{r['reach_max']:9.2f}Å {r['kb_per_slab']:8.1f} {r['ms_per_slab']:8.2f} "
                f"{gb:9.2f} {minutes:9.1f}  {r['edges_per_atom'] / ref['edges_per_atom']:.2f} / "
                f"{r['kb_per_slab'] / ref['kb_per_slab']:.2f} / "
                f"{r['ms_per_slab'] / ref['ms_per_slab']:.2f}"
            )

    from magmom.graphs.dataset import arrays_to_data

    print(f"\n2. training throughput at r{args.cutoff:g}, batch {args.batch}, 1 thread, graphs/s")
    graphs = {
        rule: [arrays_to_data(graph_arrays(s, args.cutoff, CAP, rule=rule)) for s in slabs]
        for rule in (REFERENCE, "radius")
    }
    for architecture in args.architectures:
        rates = {
            rule: throughput(architecture, args.cutoff, g, args.batch, args.seconds)
            for rule, g in graphs.items()
        }
        print(
            f"   {architecture:16s} shell_complete {rates[REFERENCE]:7.2f}   radius "
            f"{rates['radius']:7.2f}   ratio {rates['radius'] / rates[REFERENCE]:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
