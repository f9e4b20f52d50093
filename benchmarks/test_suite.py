"""Wall time of the test suite (`make test`'s pytest command) on xdist workers against one process.

The reference is the same suite, in the same run, on one process (``-n 0``); the ratio is what
the workers buy on this machine. Also printed: the slowest tests of the parallel run (pytest's
``--durations``), the first place to look when the loop gets slow again. The suite takes minutes
(the serial reference about twice as long), so this is run by hand, never in CI:

    .venv/bin/python benchmarks/test_suite.py               # serial reference + 2 workers
    .venv/bin/python benchmarks/test_suite.py --workers 4   # another worker count
    .venv/bin/python benchmarks/test_suite.py --no-reference  # the parallel run only

Measure on an otherwise idle machine: both runs are wall-clock times.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the marker expression of `make test` (the Slurm tests run in `make test-slurm`)
MARKERS = "not slurm"


def run_suite(workers: int, durations: int) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", MARKERS, "-p", "no:cacheprovider",
           f"--durations={durations}", "-n", str(workers)]  # fmt: skip
    if workers:
        cmd += ["--dist", "loadscope"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}")
    return wall, proc.stdout


def summary_line(out: str) -> str:
    lines = [line for line in out.splitlines() if re.search(r"\d+ passed", line)]
    return lines[-1].strip("= ") if lines else "?"


def slowest(out: str, n: int) -> list[str]:
    pattern = re.compile(r"^\d+\.\d+s (call|setup|teardown)")
    rows = [line for line in out.splitlines() if pattern.match(line)]
    return rows[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-reference", action="store_true", help="skip the serial run")
    parser.add_argument("--slowest", type=int, default=10)
    args = parser.parse_args()

    wall, out = run_suite(args.workers, durations=max(args.slowest, 1))
    print(f"pytest -n {args.workers} --dist loadscope: {wall:.0f} s ({summary_line(out)})")
    print(f"slowest {args.slowest} (setup = a module fixture: a GPAW or workflow run):")
    for row in slowest(out, args.slowest):
        print("   ", row)
    if not args.no_reference:
        ref, ref_out = run_suite(0, durations=1)
        print(f"pytest, one process (reference): {ref:.0f} s ({summary_line(ref_out)})")
        print(f"ratio parallel / serial: {wall / ref:.2f}")


if __name__ == "__main__":
    main()
