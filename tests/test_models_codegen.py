"""Building models leaves none of PyG's generated operator code in the temporary directory."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_building_every_operator_leaves_no_generated_file(tmp_path):
    """In a fresh process (PyG generates code once per operator class and process), with the
    temporary directory pointed at ``tmp_path``: no file is left there, and the models run."""
    code = (
        "import torch\n"
        "from magmom.models import ARCHITECTURES, build_model\n"
        "for arch in ARCHITECTURES:\n"
        "    build_model(arch, 4.0, {'hidden': 8, 'dimenet': {'hidden_channels': 8, "
        "'int_emb_size': 4, 'basis_emb_size': 4, 'out_emb_channels': 8, 'num_blocks': 1}})\n"
        "print('built', len(ARCHITECTURES))\n"
    )
    env = {"TMPDIR": str(tmp_path), "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "built 16" in run.stdout
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("torch_geometric"))
    assert left == []  # (torch itself leaves a torchinductor cache directory: not PyG's code)
    assert tempfile.gettempdir() != str(tmp_path)  # this process's setting untouched
