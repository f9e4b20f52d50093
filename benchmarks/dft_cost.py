"""Cost of one slab's DFT at the study settings: seconds per SCF iteration, 1 vs P processes.

    python benchmarks/dft_cost.py                              # 16-atom 2x2x4, 1 and 2 processes
    python benchmarks/dft_cost.py --sizes 2x2x4 4x4x4 --procs 1 2 4 --iterations 3
    python benchmarks/dft_cost.py --json results/benchmarks/dft_cost.json

For each slab size (an fcc(111) Ni slab, spin-polarised, bottom two layers fixed: the study's
worst case among its slab sizes, a magnetic metal) and each process count P, GPAW runs the
plane-wave stage's first SCF at the study settings of config.yaml (``dft.planewave``, ladder
level 0, GPAW's layout from :func:`magmom.dft.parallel.slab_layout`) for ``--iterations``
iterations; P > 1 goes through the same launcher as the workflow (``mpiexec``/``srun``). Printed
per run: the setup time (to the end of the first SCF iteration: setups, basis, LCAO initial
guess), seconds per SCF iteration (median of the later ones), the speed-up and parallel
efficiency against P = 1 *measured in the same run*, and seconds per ionic step =
``--scf-per-step`` x seconds per iteration (the iteration count per ionic step is an input, not
measured here: see README "DFT cost").

Times are CPU seconds of the slowest rank (``time.process_time``; OpenMPI ranks busy-wait, so
this is close to the wall time on dedicated cores) because a shared machine's wall clock measures
its other users; the wall times are printed beside them.

The result feeds :mod:`magmom.dft.cost_model` (its constants are fitted on these numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def slab(size: tuple[int, int, int], element: str, a: float, vacuum: float, magmom: float):
    from ase.build import fcc111

    from magmom.dft.label import fix_bottom_layers

    atoms = fcc111(element, size=size, a=a, vacuum=vacuum)
    atoms.pbc = (True, True, False)
    atoms.set_initial_magnetic_moments([magmom] * len(atoms))
    fix_bottom_layers(atoms, 2)
    return atoms


def worker(args) -> None:
    """One measurement (on every rank of a P-process run); rank 0 writes ``args.out``."""
    import numpy as np
    import yaml
    from gpaw import GPAW

    from magmom.dft.gpaw_params import planewave_params
    from magmom.dft.parallel import gpaw_parallel, slab_layout, world
    from magmom.dft.scf_ladder import ladder_from_config, level_parameters
    from magmom.dft.settings import DftSettings

    t_start, c_start = time.perf_counter(), time.process_time()
    with open(ROOT / "config.yaml") as fh:
        cfg = yaml.safe_load(fh)
    dft = cfg["dft"]
    size = tuple(int(s) for s in args.size.split("x"))
    atoms = slab(size, args.element, args.a, cfg["recipe"]["vacuum"], args.magmom)
    base = planewave_params(DftSettings.from_config(dft).planewave, atoms, spinpol=True)
    ladder = ladder_from_config(dft["scf_ladder"])
    params = level_parameters(ladder[0], base, dft["planewave"]["smearing"])
    params["maxiter"] = args.iterations + 5
    comm = world()
    layout = slab_layout(atoms, base, comm.size)
    calc = GPAW(**params, parallel=gpaw_parallel(layout), txt=args.txt if comm.rank == 0 else None)
    atoms.calc = calc
    stamps, cpu = [], []
    for _ in calc.iconverge(atoms):
        stamps.append(time.perf_counter())
        cpu.append(time.process_time())
        if len(stamps) >= args.iterations:
            break
    per_iter, cpu_per_iter = np.diff(stamps), np.diff(cpu)
    # CPU seconds of the slowest rank: on a loaded machine the wall clock measures the other
    # users; MPI ranks busy-wait, so CPU time ~ the wall time on dedicated cores
    cpu_per_iter = comm.max_scalar(float(np.median(cpu_per_iter))) if len(cpu) > 1 else None
    cpu_setup = comm.max_scalar(float(cpu[0] - c_start))
    dft_obj = calc.dft
    result = {
        "size": args.size,
        "n_atoms": len(atoms),
        "processes": comm.size,
        "layout": layout,
        "kpts": base["kpts"]["size"],
        "n_bands": int(dft_obj.ibzwfs.nbands),
        "setup_wall_s": stamps[0] - t_start,
        "setup_s": cpu_setup,
        "scf_iterations": len(stamps),
        "wall_seconds_per_iteration": float(statistics.median(per_iter)) if len(per_iter) else None,
        "seconds_per_iteration": cpu_per_iter,
        "iteration_times": per_iter.tolist(),
    }
    if comm.rank == 0:
        Path(args.out).write_text(json.dumps(result, indent=2))


def measure(size: str, procs: int, args, workdir: Path) -> dict:
    from magmom.dft.parallel import RANK_ENV, ROOT_ENV, launcher_command

    out = workdir / f"{size}-p{procs}.json"
    cmd = [sys.executable, __file__, "--worker", "--size", size, "--out", str(out)]
    cmd += ["--iterations", str(args.iterations), "--element", args.element, "--a", str(args.a)]
    cmd += ["--magmom", str(args.magmom), "--txt", str(workdir / f"{size}-p{procs}.txt")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if procs > 1:
        cmd = [*launcher_command(procs, args.launcher), *cmd]
        env.update(RANK_ENV)
        if os.geteuid() == 0:
            env.update(ROOT_ENV)
    if args.nice:
        cmd = ["nice", "-n", str(args.nice), *cmd]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    result = json.loads(out.read_text())
    result["wall_s"] = time.perf_counter() - t0
    return result


def table(results: list[dict], ref_procs: int, scf_per_step: float) -> str:
    """The printed table; adds speed-up, efficiency and seconds per ionic step to ``results``."""
    head = ("slab", "atoms", "k-pts", "P", "k/d/b", "setup s", "s/SCF it", "wall s/it",
            "speed-up", "eff.", "s/ionic step")  # fmt: skip
    rows = [head]
    for r in results:
        ref = next(x for x in results if x["size"] == r["size"] and x["processes"] == ref_procs)
        t, t1 = r["seconds_per_iteration"], ref["seconds_per_iteration"]
        speedup = t1 / t * ref["processes"] if t and t1 else float("nan")
        r["speedup"], r["efficiency"] = speedup, speedup / r["processes"]
        r["seconds_per_ionic_step"] = t * scf_per_step if t else float("nan")
        lay = r["layout"]
        rows.append((
            r["size"], r["n_atoms"], "x".join(map(str, r["kpts"])), r["processes"],
            f"{lay['kpt']}/{lay['domain']}/{lay['band']}", f"{r['setup_s']:.1f}",
            f"{t or float('nan'):.1f}", f"{r['wall_seconds_per_iteration'] or float('nan'):.1f}",
            f"{speedup:.2f}", f"{r['efficiency']:.2f}", f"{r['seconds_per_ionic_step']:.0f}",
        ))  # fmt: skip
    return "\n".join(" ".join(f"{c!s:>9}" for c in row) for row in rows)


def recipe_estimate() -> str:
    """Core-hours of the full recipe (config.yaml) from magmom.dft.cost_model, per slab size and
    number of initial-moment starts (``dft.initial_moments``, counted per slab from its elements by
    :func:`magmom.dft.initial_moments.n_runs`)."""
    import tempfile
    from collections import Counter

    import yaml

    from magmom.dft import cost_model
    from magmom.dft.initial_moments import n_runs

    with open(ROOT / "config.yaml") as fh:
        cfg = yaml.safe_load(fh)
    tasks = int(cfg["dft"]["resources"]["tasks"])
    job = cost_model.JobSettings.from_config(cfg)
    policy = cfg["dft"]["initial_moments"]
    shapes = cost_model.slab_shapes(cfg["recipe"], tempfile.mkdtemp()).values()
    # priced alike: size, lattice and whether the type keeps the anchor's k-point symmetry
    groups = Counter(
        (
            shape.size,
            shape.lattice,
            shape.comp_type if shape.comp_type in cost_model.SYMMETRIC_TYPES else "alloy",
            n_runs(shape.elements, policy),
        )
        for shape in shapes
    )
    per_start = Counter(n for (*_, n), count in groups.items() for _ in range(count))
    lines = [
        f"\nfull recipe (config.yaml, {len(shapes)} slabs), cost model at {tasks} processes per "
        f"slab (budget per start {job.budget}, {cost_model.BUDGET}); dft.initial_moments: "
        f"{policy}, slabs per number of starts: {dict(sorted(per_start.items()))}"
    ]
    total = one_start = 0.0
    for (size, lattice, comp_type, starts), count in sorted(groups.items()):
        shape = cost_model.SlabShape(size, (), lattice, comp_type)
        grid = cost_model.kpoint_grid(size, job.kpt_density, lattice)
        n_ibz = cost_model.irreducible_kpoints(grid, comp_type)
        n_atoms = size[0] * size[1] * size[2]
        serial = cost_model.slab_core_hours(shape, job, 1)
        parallel = cost_model.slab_core_hours(shape, job, tasks)
        total += count * starts * parallel
        one_start += count * parallel
        lines.append(
            f"  {'x'.join(map(str, size))} {lattice} {comp_type} ({n_atoms} atoms, "
            f"{'x'.join(map(str, grid))} k, {n_ibz:g} irreducible), {starts} start(s): {count} "
            f"slabs, {serial:.1f} core-h serial per start, {parallel:.1f} core-h on {tasks} "
            f"processes per start ({parallel / tasks:.1f} h wall); job asks "
            f"{cost_model.slab_job_size(shape, job, tasks, starts)}"
        )
    lines.append(
        f"  total: {total:,.0f} core-hours ({total / 1e6:.2f} M); one start per slab "
        f"(dft.initial_moments: eos or floor): {one_start:,.0f} ({one_start / 1e6:.2f} M)"
    )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", nargs="+", default=["2x2x4"])
    p.add_argument("--procs", nargs="+", type=int, default=[1, 2])
    p.add_argument("--iterations", type=int, default=3, help="SCF iterations timed per run")
    p.add_argument(
        "--scf-per-step", type=float, default=20.0, help="SCF iterations per ionic step (assumed)"
    )
    p.add_argument("--element", default="Ni")
    p.add_argument("--a", type=float, default=3.52, help="fcc lattice constant (Å)")
    p.add_argument("--magmom", type=float, default=0.6)
    p.add_argument("--launcher", default="auto")
    p.add_argument("--nice", type=int, default=10)
    p.add_argument("--workdir", default=None)
    p.add_argument("--json", default=None, help="write all results here")
    p.add_argument("--estimate-only", action="store_true", help="only the full-recipe estimate")
    # worker mode (internal)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--txt", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    if args.estimate_only:
        print(recipe_estimate())
        return
    import tempfile

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dft-cost-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes:
        for procs in sorted(args.procs):
            r = measure(size, procs, args, workdir)
            results.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "iteration_times"}), flush=True)
    print(f"\nGPAW logs in {workdir}; study settings of config.yaml, {args.element} fcc(111)")
    print(table(results, min(args.procs), args.scf_per_step))
    print(recipe_estimate())
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
