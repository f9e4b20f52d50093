"""Time ``magmom.recipe.slab_index`` on the full config: cold (enumerate) and cached (read file).

Goals (issue 2): cold < 2 s, so the Snakefile parse stays interactive; cached ~0.1 s, because every
Slurm job re-parses the Snakefile. Each timing runs in a fresh interpreter and includes importing
``magmom.recipe`` (what a parse pays). The reference, measured in the same run and the same way, is
``magmom.config.check`` of the same config (schema validation that every parse already does).

Usage: .venv/bin/python benchmarks/recipe_enumeration.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TIMED = r"""
import json, sys, time, yaml
config = yaml.safe_load(open(sys.argv[1]))
what, cache = sys.argv[2], sys.argv[3]
t0, c0 = time.perf_counter(), time.process_time()
if what == "index":
    from magmom.recipe import slab_index
    n = len(slab_index(config, cache))
else:
    from magmom.config import check
    check(config, sys.argv[4])
    n = 0
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "n": n}))
"""


def timed(what: str, cache: Path) -> dict:
    cmd = [
        sys.executable, "-c", TIMED, str(ROOT / "config.yaml"), what, str(cache),
        str(ROOT / "schemas" / "config.schema.yaml"),
    ]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cold, cached, ref = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cold.append(timed("index", Path(tmp)))
            cached += [timed("index", Path(tmp)) for _ in range(3)]
            ref.append(timed("check", Path(tmp)))
    n = cold[0]["n"]

    def med(rows, key="wall"):
        return statistics.median(r[key] for r in rows)

    r = med(ref)
    print(f"slab_index(full config): {n} slab ids")
    print(f"reference (config check)  wall {r:7.3f} s   cpu {med(ref, 'cpu'):7.3f} s")
    for name, rows, goal in (("cold", cold, 2.0), ("cached", cached, 0.1)):
        w, c = med(rows), med(rows, "cpu")
        print(
            f"{name:<6} slab_index        wall {w:7.3f} s   cpu {c:7.3f} s   "
            f"= {w / r:5.2f} x reference   goal < {goal} s: {'met' if w < goal else 'MISSED'}"
        )
    print(f"cached / cold = {med(cached) / med(cold):.3f}")


if __name__ == "__main__":
    main()
