"""Predicting users' structures: a cold process on one 64-atom slab, and throughput on many.

1. **Cold process.** ``python -m magmom.predict CHECKPOINT slab.extxyz`` in a fresh interpreter
   (import + checkpoint load + graph + forward + CSV), wall time measured by this script, for
   ``cgconv``, ``schnetconv`` and ``dimenet``; a child process also reports its phases (imports,
   load, graph, forward; the import phase includes PyG, vesin and ASE's readers). The
   reference is a cold process running CHGNet's own magmom prediction on the same slab (import
   chgnet + load the shipped weights + graph + forward). Each cold process runs ``--repeats``
   times, the median is printed: a new interpreter every time, but the first run of each also
   pays for reading the libraries from disk into the page cache, which the order of the runs
   would otherwise hand to whichever model comes first.
2. **Throughput.** ``--structures`` (1,000) seeded 64-atom 4x4x4 fcc(111) alloy slabs in one
   extxyz file: :func:`magmom.predict.files.predict_files` (read, check, build graphs, batched
   forward, CSV) with each model loaded once, against CHGNet's magmom prediction
   (:func:`magmom.chgnet.crystal_graphs` + ``predict_magmoms``, task ``em``)
   on the same Atoms in the same run. Printed: structures/s and the ratio to CHGNet, and the
   load average before and after (other processes on the machine change every rate).

The GNNs have the study's sizes (``config.yaml`` ``models``) at ``--cutoff`` with untrained
(seeded) weights: speed does not depend on the weight values. Everything runs on the CPU with
``--threads`` torch threads (default 1), on graphs from the project's builder. Run under ``nice``
on a shared machine::

    nice -n 10 .venv/bin/python benchmarks/predict_structures.py [--structures 1000] [--cutoff 6]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARCHITECTURES = ("cgconv", "schnetconv", "dimenet")
ELEMENTS = ("Fe", "Co", "Ni", "Cu", "Pd", "Pt")

CHILD_GNN = """
import json, sys, time
t0 = time.perf_counter()
import torch
torch.set_num_threads({threads})
import ase.io
import torch_geometric
import vesin
import magmom.models
from magmom.predict.predictor import MomentPredictor
from magmom.predict.structures import read_frames
t1 = time.perf_counter()
predictor = MomentPredictor({checkpoint!r}, device="cpu")
t2 = time.perf_counter()
frame = read_frames({structure!r})[0]
graph = predictor.graph_of(frame.atoms)
t3 = time.perf_counter()
moments = predictor._forward([graph])[0]
t4 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "load": t2 - t1, "graph": t3 - t2, "forward": t4 - t3}}))
"""

CHILD_CHGNET = """
import json, time
t0 = time.perf_counter()
import torch
torch.set_num_threads({threads})
import ase.io
from chgnet.model import CHGNet
from pymatgen.io.ase import AseAtomsAdaptor
t1 = time.perf_counter()
model = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False).eval()
t2 = time.perf_counter()
graph = model.graph_converter(AseAtomsAdaptor.get_structure(ase.io.read({structure!r})))
t3 = time.perf_counter()
with torch.no_grad():
    m = model([graph], task="em")["m"][0]
t4 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "load": t2 - t1, "graph": t3 - t2, "forward": t4 - t3}}))
"""


def slabs(n: int, seed: int = 0):
    from magmom.evaluation.deployment_cost import synthetic_slab

    return [synthetic_slab(ELEMENTS, seed=seed + k) for k in range(n)]


def write_checkpoint(architecture: str, cutoff: float, path: Path) -> Path:
    """A format-2 checkpoint of ``architecture`` with the study's sizes and seeded weights."""
    import torch
    import yaml

    from magmom.graphs.cache import SCHEMA_VERSION
    from magmom.models import build_model
    from magmom.training.checkpoint import FORMAT, FORMAT_VERSION, save_checkpoint

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    torch.manual_seed(0)
    model = build_model(architecture, cutoff, config["models"])
    counts = torch.zeros(119, dtype=torch.int64)
    counts[[26, 27, 28, 29, 46, 78]] = 1000
    save_checkpoint(
        path,
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_id": f"{architecture}-r{cutoff:g}",
            "architecture": architecture,
            "cutoff": float(cutoff),
            "residual": False,
            "element_mean": None,
            "config": config,
            "graph": {
                "cutoff": float(cutoff),
                "max_neighbors": config["graphs"]["max_neighbors"],
                "target": "abs",
                "schema_version": SCHEMA_VERSION,
            },
            "element_counts": counts,
            "model_state": model.state_dict(),
            "epoch": 0,
        },
    )
    return path


def cold(code: str, env_path: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        check=True,
    )
    return time.perf_counter() - t0, json.loads(run.stdout.strip().splitlines()[-1])


def cold_cli(checkpoint: Path, structure: Path, out: Path, threads: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "magmom.predict", str(checkpoint), str(structure)]
        + ["-o", str(out), "--device", "cpu", "--threads", str(threads), "-q"],
        capture_output=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        check=True,
    )
    return time.perf_counter() - t0


def phases(p: dict) -> str:
    return ", ".join(f"{k} {v:.2f} s" for k, v in p.items())


def median_of(runs: list[float]) -> str:
    return f"{statistics.median(runs):6.2f} s wall (runs: {', '.join(f'{r:.2f}' for r in runs)})"


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--structures", type=int, default=1000)
    parser.add_argument("--cutoff", type=float, default=6.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--repeats", type=int, default=3, help="runs of each cold process")
    args = parser.parse_args()

    import ase.io
    import torch

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="magmom-bench-"))
    one = tmp / "slab64.extxyz"
    ase.io.write(one, slabs(1)[0])
    many_atoms = slabs(args.structures, seed=1)
    many = tmp / "slabs.extxyz"
    ase.io.write(many, many_atoms)
    checkpoints = {a: write_checkpoint(a, args.cutoff, tmp / f"{a}.pt") for a in args.architectures}
    print(
        f"# {args.structures} structures of 64 atoms, cutoff {args.cutoff:g} Å, "
        f"{args.threads} torch thread(s), CPU, study-size models with untrained weights; {load()}"
    )

    print(f"\n## cold process, one 64-atom slab (median of {args.repeats})")
    code = CHILD_CHGNET.format(threads=args.threads, structure=str(one))
    runs = [cold(code, str(ROOT)) for _ in range(args.repeats)]
    ref_wall = statistics.median(r[0] for r in runs)
    print(f"chgnet (own magmom)      {median_of([r[0] for r in runs])}  ({phases(runs[-1][1])})")
    for a, ckpt in checkpoints.items():
        walls = [
            cold_cli(ckpt, one, tmp / f"{a}-one.csv", args.threads) for _ in range(args.repeats)
        ]
        _, ph = cold(
            CHILD_GNN.format(threads=args.threads, checkpoint=str(ckpt), structure=str(one)),
            str(ROOT),
        )
        print(
            f"{a:12s} (CLI)        {median_of(walls)}, CHGNet/this "
            f"{ref_wall / statistics.median(walls):5.2f}x  (phases in a child: {phases(ph)})"
        )

    print(
        f"\n## throughput, {args.structures} structures (one process, models loaded once); {load()}"
    )
    from magmom.chgnet import load_pretrained, predict_magmoms
    from magmom.predict.files import predict_files
    from magmom.predict.predictor import MomentPredictor

    class Slab:  # what crystal_graphs reads
        def __init__(self, k, atoms):
            self.slab_id, self.atoms = f"s{k}", atoms

    from magmom.chgnet import crystal_graphs

    model = load_pretrained("cpu")
    t0 = time.perf_counter()
    graphs = crystal_graphs(model, [Slab(k, a) for k, a in enumerate(many_atoms)])
    predict_magmoms(model, graphs, batch_size=16)
    chgnet_s = time.perf_counter() - t0
    chgnet_rate = args.structures / chgnet_s
    print(f"chgnet (own magmom)      {chgnet_rate:8.1f} structures/s ({chgnet_s:.1f} s)")
    for a, ckpt in checkpoints.items():
        predictor = MomentPredictor(ckpt, device="cpu", batch_size=16)
        t0 = time.perf_counter()
        summary = predict_files(predictor, [many], tmp / f"{a}-many.csv", progress=False)
        seconds = time.perf_counter() - t0
        assert summary.predicted == args.structures
        rate = args.structures / seconds
        print(
            f"{a:12s}             {rate:8.1f} structures/s ({seconds:.1f} s), "
            f"{rate / chgnet_rate:5.2f}x CHGNet"
        )
    print(f"# done; {load()}")


if __name__ == "__main__":
    main()
