"""Model benchmark: parameters, construct+load time and CPU inference per 64-atom slab.

For every architecture this prints the parameter count, the time to build the model and load a
checkpoint (``build_model`` + ``torch.load(weights_only=True)`` + ``load_state_dict``) and the
inference time for one 64-atom 4x4x4 fcc(111) alloy slab at each cutoff, on graphs made by the
project's graph builder (``magmom.graphs.builder``, per-atom cap ``graphs.max_neighbors``).
Times are the median process CPU time (``time.process_time``): with the default single thread it
equals the wall time on an idle machine and stays meaningful on a shared one (``--wall`` for
wall-clock).

For DimeNet++ it also drives PyG's own ``DimeNetPlusPlus`` (sympy basis, gather/scatter
interaction blocks), loaded with the same weights and fed the same periodic edges and triplets,
and prints the ratios PyG/ours for construction+load and inference (goal: >= 2x) together with the
largest difference between the two outputs (relative to the largest output). Everything is
measured in the same run.

    .venv/bin/python benchmarks/models.py                 # all 16, cutoffs 3 4 6 8, 1 thread
    .venv/bin/python benchmarks/models.py --architectures cgconv dimenet --cutoffs 8
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from ase.build import fcc111

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from magmom.graphs.builder import SlabInput, graph_arrays  # noqa: E402
from magmom.graphs.dataset import arrays_to_data  # noqa: E402
from magmom.models import ARCHITECTURES, build_model  # noqa: E402
from magmom.models.triplets import triplets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def slab_graph(cutoff: float, max_neighbors: int | None, seed: int = 0):
    """A 64-atom 4x4x4 fcc(111) Fe/Co/Ni/Pd/Pt alloy slab, rattled, as a contract graph."""
    rng = np.random.default_rng(seed)
    atoms = fcc111("Ni", size=(4, 4, 4), vacuum=10.0)
    atoms.numbers = rng.choice([26, 27, 28, 46, 78], size=len(atoms))
    atoms.rattle(0.05, seed=seed)
    slab = SlabInput("bench", atoms.numbers, atoms.positions, np.asarray(atoms.cell[:]),
                     np.asarray(atoms.pbc), np.zeros(len(atoms)))  # fmt: skip
    return arrays_to_data(graph_arrays(slab, cutoff, max_neighbors, "abs"))


CLOCK = time.process_time


def timed(fn, repeats: int, warmup: int = 2) -> float:
    """Median time of ``fn()`` in seconds on :data:`CLOCK`."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = CLOCK()
        fn()
        samples.append(CLOCK() - start)
    return statistics.median(samples)


def construct_and_load(build, checkpoint: bytes):
    model = build()
    model.load_state_dict(torch.load(io.BytesIO(checkpoint), weights_only=True))
    return model.eval()


def pyg_dimenet(models_cfg: dict, cutoff: float):
    """PyG's DimeNet++ with the study's sizes (builds its basis with sympy)."""
    from torch_geometric.nn.models.dimenet import DimeNetPlusPlus

    return DimeNetPlusPlus(
        out_channels=1,
        cutoff=cutoff,
        num_output_layers=int(models_cfg.get("readout_hidden_layers", 1)) + 1,
        **models_cfg["dimenet"],
    ).eval()


def pyg_blocks_forward(reference, g) -> torch.Tensor:
    """PyG's blocks and basis driven on the periodic graph with our triplets (the study's way)."""
    t = triplets(g.edge_index, g.num_nodes, g.cell_offset)
    dist = g.edge_vec.norm(dim=-1)
    pos_ij, pos_jk = -g.edge_vec[t.idx_ji], -g.edge_vec[t.idx_kj]
    angle = torch.atan2(
        torch.cross(pos_ij, pos_jk, dim=1).norm(dim=-1), (pos_ij * pos_jk).sum(dim=-1)
    )
    rbf = reference.rbf(dist)
    sbf = reference.sbf(dist, angle, t.idx_kj)
    x = reference.emb(g.z, rbf, t.i, t.j)
    out = reference.output_blocks[0](x, rbf, t.i, num_nodes=g.num_nodes)
    for interaction, output in zip(
        reference.interaction_blocks, reference.output_blocks[1:], strict=True
    ):
        x = interaction(x, rbf, sbf, t.idx_kj, t.idx_ji)
        out = out + output(x, rbf, t.i, num_nodes=g.num_nodes)
    return out.squeeze(-1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--cutoffs", nargs="+", type=float, default=[3.0, 4.0, 6.0, 8.0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--no-pyg", action="store_true", help="skip PyG's DimeNet++ reference")
    parser.add_argument(
        "--wall", action="store_true", help="time wall-clock instead of process CPU time"
    )
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.perf_counter if args.wall else time.process_time

    torch.set_num_threads(args.threads)
    config = yaml.safe_load(Path(args.config).read_text())
    models_cfg = config["models"]
    max_neighbors = config["graphs"].get("max_neighbors")
    graphs = {c: slab_graph(c, max_neighbors) for c in args.cutoffs}
    clock = "wall-clock" if args.wall else "process CPU time"
    print(f"torch {torch.__version__}, {args.threads} thread(s); 64-atom slab, "
          f"max_neighbors={max_neighbors}; median {clock} of {args.repeats} runs")  # fmt: skip
    for c, g in graphs.items():
        n_trip = len(triplets(g.edge_index, g.num_nodes, g.cell_offset).idx_kj)
        print(f"  r{c:g}: {g.num_edges} edges, {n_trip} triplets")

    header = ["architecture", "params", "build+load ms"] + [f"r{c:g} ms" for c in args.cutoffs]
    rows = []
    for architecture in args.architectures:
        torch.manual_seed(0)
        cutoff = max(args.cutoffs)
        model = build_model(architecture, cutoff, models_cfg).eval()
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        checkpoint = buffer.getvalue()
        n_params = sum(p.numel() for p in model.parameters())
        load_s = timed(
            lambda a=architecture, c=cutoff, ck=checkpoint: construct_and_load(
                lambda: build_model(a, c, models_cfg), ck
            ),
            repeats=max(3, args.repeats // 2),
            warmup=1,
        )
        infer = []
        for c, g in graphs.items():
            model_c = construct_and_load(lambda a=architecture, c=c: build_model(a, c, models_cfg),
                                         checkpoint)  # fmt: skip
            with torch.inference_mode():
                infer.append(timed(lambda m=model_c, g=g: m(g), args.repeats))
        rows.append([architecture, f"{n_params:,}", f"{1e3 * load_s:.1f}"]
                    + [f"{1e3 * t:.1f}" for t in infer])  # fmt: skip
        print("  done", architecture, flush=True)

    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True)) + " |")

    if "dimenet" in args.architectures and not args.no_pyg:
        print("\nDimeNet++ vs PyG's DimeNetPlusPlus blocks (same weights, same periodic graph)")
        start = CLOCK()
        reference = pyg_dimenet(models_cfg, max(args.cutoffs))
        pyg_build = CLOCK() - start
        ours_model = build_model("dimenet", max(args.cutoffs), models_cfg)
        for block in ours_model.output_blocks:  # non-zero outputs for a meaningful comparison
            torch.nn.init.normal_(block.lin.weight, std=0.1)
        buffer = io.BytesIO()
        torch.save(ours_model.state_dict(), buffer)
        checkpoint = buffer.getvalue()
        ours_load = timed(
            lambda: construct_and_load(
                lambda: build_model("dimenet", max(args.cutoffs), models_cfg), checkpoint
            ),
            repeats=5,
            warmup=1,
        )
        print(f"  construct+load: PyG {pyg_build:.2f} s (sympy), ours {1e3 * ours_load:.0f} ms, "
              f"ratio {pyg_build / ours_load:.0f}x")  # fmt: skip
        print("  | cutoff | PyG blocks ms | ours ms | speed-up | max |diff| / max |out| |")
        print("  |---|---|---|---|---|")
        for c, g in graphs.items():
            ours = construct_and_load(lambda c=c: build_model("dimenet", c, models_cfg), checkpoint)
            reference.rbf.cutoff = reference.sbf.cutoff = c
            reference.load_state_dict(ours.state_dict())
            with torch.inference_mode():
                expected = pyg_blocks_forward(reference, g)
                diff = float((ours(g) - expected).abs().max() / expected.abs().max())
                t_ours = timed(lambda m=ours, g=g: m(g), args.repeats)
                t_pyg = timed(lambda g=g: pyg_blocks_forward(reference, g), args.repeats)
            print(f"  | r{c:g} | {1e3 * t_pyg:.1f} | {1e3 * t_ours:.1f} | "
                  f"{t_pyg / t_ours:.1f}x | {diff:.1e} |")  # fmt: skip


if __name__ == "__main__":
    main()
