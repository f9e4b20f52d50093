"""Project-wide gates: snakefmt and ``snakemake --lint`` are clean; no ignored file is committed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def test_no_tracked_file_is_ignored():
    """Nothing .gitignore excludes (a venv, even as a symlink; results; caches) is committed.

    A committed ``.venv`` symlink replaces the real venv directory of every checkout it reaches.
    """
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run(
        ["git", "ls-files", "--cached", "--ignored", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [], f"tracked but ignored (git rm --cached them): {proc.stdout}"
