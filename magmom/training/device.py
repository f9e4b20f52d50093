"""Where training runs: device choice, TF32, CPU threads and DataLoader workers.

CUDA is used when available, else the CPU (Apple's MPS is not a target). On Ampere and later GPUs,
TF32 rounds the inputs of float32 matmuls and cuDNN convolutions to a 10-bit mantissa while keeping
float32 range and accumulation: about 8x the matmul throughput for a relative error near 1e-3, far
below the label noise of the moments.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def select_device(requested: str | torch.device | None = None) -> torch.device:
    """``requested`` if given (``"cpu"``, ``"cuda:1"``, ...), else CUDA if available, else CPU.

    Asking for CUDA on a machine without it is an error rather than a silent fallback, so a GPU
    job that landed on a CPU node fails loudly instead of running 50x slower.
    """
    if requested is None or str(requested) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {str(device)!r} was requested but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}); use --device cpu or run on a GPU node"
        )
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {str(device)!r} is not supported; use cpu, cuda or cuda:<index>")
    return device


def configure_tf32(device: torch.device, enabled: bool) -> None:
    """Allow (or forbid) TF32 in CUDA matmuls and cuDNN convolutions; a no-op on the CPU.

    Uses the ``fp32_precision`` switches of torch >= 2.9 and the older ``allow_tf32`` flags on
    earlier versions.
    """
    if device.type != "cuda":
        return
    precision = "tf32" if enabled else "ieee"
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
    else:  # torch < 2.9
        matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled
    log.info("TF32 %s for CUDA matmuls and cuDNN convolutions", "on" if enabled else "off")


def loader_workers(threads: int) -> int:
    """DataLoader worker processes for a job given ``threads`` cores: one core stays with the
    training loop, the rest read and collate graphs (``threads - 1``; 0 = load in-process)."""
    return max(0, int(threads) - 1)


def configure_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads in this process (workers run single-threaded anyway)."""
    torch.set_num_threads(max(1, int(threads)))


def describe(device: torch.device) -> str:
    """A one-line description of ``device`` for the log."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.1f} GiB)"
    return f"cpu ({torch.get_num_threads()} threads)"
