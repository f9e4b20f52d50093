"""Project-wide style gates for the workflow: snakefmt and ``snakemake --lint`` are clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_snakefmt_check_is_clean():
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile", "rules/"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, f"run `snakefmt Snakefile rules/`:\n{proc.stdout}{proc.stderr}"


def test_snakemake_lint_is_clean_with_the_tiny_preset(tmp_path):
    proc = subprocess.run(
        [
            sys.executable, "-m", "snakemake", "--lint",
            "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
            "--configfile", str(ROOT / "config.yaml"), str(ROOT / "presets" / "tiny.yaml"),
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, f"snakemake --lint:\n{proc.stdout}{proc.stderr}"
