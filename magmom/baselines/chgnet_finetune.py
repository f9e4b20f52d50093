r"""CHGNet fine-tuned on magnetic moments only, with our validation split for model selection.

Starting from the pretrained weights (:func:`magmom.chgnet.load_pretrained`), the whole model is
trainable but only the moment head's loss is optimised: the Huber loss of the GNN trainer,

.. math::
    \ell_\delta(\hat m, y) = \begin{cases} \tfrac12 (\hat m - y)^2 & |\hat m - y| \le \delta \\
    \delta\,(|\hat m - y| - \tfrac12\delta) & \text{otherwise} \end{cases},
    \qquad \delta = 0.1\ \mu_B,

averaged over the atoms of a batch, with :math:`\hat m_i = |\mathbf{w}^\top\mathbf{h}^{(L-1)}_i+b|`
(so only the embeddings, the first :math:`L-1` interaction blocks and the moment head receive
gradients; the energy head is untouched). AdamW at constant learning rate, gradient-norm clipping,
seeded shuffling (epoch :math:`e` uses generator seed ``seed + e``).

Procedure (the study fine-tuned on train + val but selected on its own random internal split):

1. **select**: train on the *train* split; after every epoch compute the MAE on *our* validation
   split; keep the weights of the best epoch :math:`e^*`; stop after ``early_stopping_patience``
   epochs without improvement or at ``max_epochs``.
2. **refit** (``refit_train_val``, default on): restart from the pretrained weights and train on
   *train + val* for exactly :math:`e^*` epochs with the same settings; these weights are the final
   model. With refit off (or an empty validation split) the selected weights of step 1 are final.

The state after every epoch goes to a resume file beside ``best.pt`` (not a Snakemake output, so a
killed job continues where it stopped); a fingerprint of the settings and the slab ids guards it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from magmom.baselines.chgnet_slabs import Slab
from magmom.chgnet import PRETRAINED, crystal_graphs, load_pretrained, predict_magmoms
from magmom.io import atomic_path

log = logging.getLogger(__name__)

RESUME = "resume.pt"


@dataclass(frozen=True)
class FinetuneSettings:
    """Settings of one fine-tuning run (config ``baselines.chgnet_finetune`` + ``training``)."""

    lr: float = 1e-4
    batch_size: int = 32
    max_epochs: int = 200
    early_stopping_patience: int = 20
    refit_train_val: bool = True
    huber_delta: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 42

    @classmethod
    def from_config(cls, config: Mapping) -> FinetuneSettings:
        ft, tr = config["baselines"]["chgnet_finetune"], config["training"]
        return cls(
            lr=float(ft["lr"]),
            batch_size=int(ft["batch_size"]),
            max_epochs=int(ft["max_epochs"]),
            early_stopping_patience=int(ft["early_stopping_patience"]),
            refit_train_val=bool(ft.get("refit_train_val", True)),
            huber_delta=float(tr["huber_delta"]),
            weight_decay=float(tr["weight_decay"]),
            grad_clip=float(tr["grad_clip"]),
            seed=int(tr["seed"]),
        )


def abs_targets(slabs: Sequence[Slab]) -> list[torch.Tensor]:
    """|m| per atom of each slab as float32 tensors (CHGNet predicts magnitudes only)."""
    return [torch.as_tensor(np.abs(s.y), dtype=torch.float32) for s in slabs]


def fingerprint(settings: FinetuneSettings, train: Sequence[Slab], val: Sequence[Slab]) -> str:
    """SHA-256 of the settings, the slab ids and the targets: a resume file of another run is
    never continued."""
    h = hashlib.sha256()
    h.update(json.dumps({"settings": asdict(settings), "pretrained": PRETRAINED}).encode())
    for group in (train, val):
        h.update(b"|")
        for s in group:
            h.update(s.slab_id.encode())
            h.update(np.round(np.abs(s.y), 6).astype(np.float64).tobytes())
    return h.hexdigest()


def _epoch(model, graphs, targets, order, settings, optimizer, device) -> tuple[float, float]:
    """One pass over ``order``: mean Huber loss and MAE per atom."""
    model.train()
    loss_sum = abs_sum = 0.0
    n_atoms = 0
    for start in range(0, len(order), settings.batch_size):
        idx = order[start : start + settings.batch_size]
        batch = [graphs[i].to(device) for i in idx]
        target = torch.cat([targets[i] for i in idx]).to(device)
        pred = torch.cat(model(batch, task="em")["m"]).view(-1)
        loss = F.huber_loss(pred, target, delta=settings.huber_delta)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        n = target.numel()
        loss_sum += float(loss.detach()) * n
        abs_sum += float((pred.detach() - target).abs().sum())
        n_atoms += n
    return loss_sum / max(n_atoms, 1), abs_sum / max(n_atoms, 1)


def mae(model, graphs, targets, batch_size: int) -> float:
    """MAE (μB) of ``model`` on ``graphs`` against ``targets``."""
    pred = predict_magmoms(model, graphs, batch_size=batch_size)
    err = np.concatenate([p - t.numpy() for p, t in zip(pred, targets, strict=True)])
    return float(np.mean(np.abs(err)))


def _new_run(settings, device):
    torch.manual_seed(settings.seed)
    model = load_pretrained(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    return model, optimizer


def _save_resume(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


class _Run:
    """The mutable state of one fine-tuning run: model, optimizer, the best weights so far and the
    bookkeeping that the resume file holds."""

    def __init__(self, settings: FinetuneSettings, device: torch.device, fp: str, resume_path):
        self.settings, self.device, self.resume_path = settings, device, resume_path
        self.model, self.optimizer = _new_run(settings, device)
        self.state = {
            "fingerprint": fp,
            "phase": "select",
            "epoch": 0,
            "best_epoch": 0,
            "best_val_mae": float("inf"),
            "bad_epochs": 0,
            "history": [],
            "done": False,
        }
        self.best_state = copy.deepcopy(self.model.state_dict())

    def restart(self) -> None:
        """Fresh pretrained weights and optimizer (the refit phase starts over)."""
        self.model, self.optimizer = _new_run(self.settings, self.device)

    def resume(self) -> None:
        """Continue from the resume file when it belongs to this run (same fingerprint)."""
        path = self.resume_path
        if path is None or not path.is_file():
            return
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved.get("fingerprint") != self.state["fingerprint"]:
            log.warning("ignoring %s: it belongs to a run with other settings or data", path)
            return
        log.info(
            "resuming CHGNet fine-tune from %s (phase %s, epoch %d)",
            path,
            saved["phase"],
            saved["epoch"],
        )
        self.model.load_state_dict(saved["model_state"])
        self.optimizer.load_state_dict(saved["optimizer_state"])
        self.best_state = saved["best_state"]
        self.state = {k: saved[k] for k in self.state}

    def checkpoint(self) -> None:
        if self.resume_path is not None:
            _save_resume(
                self.resume_path,
                {
                    **self.state,
                    "model_state": self.model.state_dict(),
                    "optimizer_state": self.optimizer.state_dict(),
                    "best_state": self.best_state,
                },
            )

    def keep_current_as_best(self) -> None:
        self.best_state = copy.deepcopy(self.model.state_dict())

    def train_epoch(self, graphs, targets, phase: str) -> dict:
        """One seeded epoch over ``graphs``; the history row (val_mae still NaN)."""
        n = len(graphs)
        gen = torch.Generator().manual_seed(self.settings.seed + self.state["epoch"])
        order = torch.randperm(n, generator=gen).tolist()
        t0 = time.perf_counter()
        loss, train_mae = _epoch(
            self.model, graphs, targets, order, self.settings, self.optimizer, self.device
        )
        seconds = time.perf_counter() - t0
        self.state["epoch"] += 1
        return {
            "phase": phase,
            "epoch": self.state["epoch"],
            "train_loss": loss,
            "train_mae": train_mae,
            "val_mae": float("nan"),
            "seconds": seconds,
            "seconds_per_slab": seconds / n,
        }


def _resume_path(resume_dir) -> Path | None:
    """The resume file in ``resume_dir`` (None: no resuming); removes temporaries of a job killed
    mid-write."""
    if resume_dir is None:
        return None
    path = Path(resume_dir) / RESUME
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{RESUME}.*"):
            stale.unlink(missing_ok=True)
    return path


def _select(run: _Run, graphs_train, y_train, graphs_val, y_val) -> None:
    """Phase 1: train on the train split, keep the best epoch on the validation split."""
    settings, state = run.settings, run.state
    while state["phase"] == "select" and not state["done"]:
        if state["epoch"] >= settings.max_epochs or (
            graphs_val and state["bad_epochs"] >= settings.early_stopping_patience
        ):
            state["phase"] = "refit" if settings.refit_train_val and graphs_val else "final"
            break
        row = run.train_epoch(graphs_train, y_train, "select")
        if graphs_val:
            row["val_mae"] = mae(run.model, graphs_val, y_val, settings.batch_size)
            if row["val_mae"] < state["best_val_mae"]:
                state.update(best_val_mae=row["val_mae"], best_epoch=state["epoch"], bad_epochs=0)
                run.keep_current_as_best()
            else:
                state["bad_epochs"] += 1
        else:
            state["best_epoch"] = state["epoch"]
            run.keep_current_as_best()
        state["history"].append(row)
        log.info(
            "select epoch %d: train loss %.5f, train MAE %.4f, val MAE %.4f (%.1f s)",
            row["epoch"],
            row["train_loss"],
            row["train_mae"],
            row["val_mae"],
            row["seconds"],
        )
        run.checkpoint()


def _refit(run: _Run, graphs_all, y_all) -> None:
    """Phase 2: from the pretrained weights, train on train + val for the selected epochs."""
    state = run.state
    if not any(r["phase"] == "refit" for r in state["history"]):
        run.restart()
        state["epoch"] = 0
        run.checkpoint()
    while state["epoch"] < state["best_epoch"]:
        row = run.train_epoch(graphs_all, y_all, "refit")
        state["history"].append(row)
        log.info(
            "refit epoch %d/%d on train+val: train loss %.5f, train MAE %.4f (%.1f s)",
            row["epoch"],
            state["best_epoch"],
            row["train_loss"],
            row["train_mae"],
            row["seconds"],
        )
        run.checkpoint()
    run.keep_current_as_best()


def _summary(run: _Run, history: pd.DataFrame, n_train: int, n_val: int, has_val: bool) -> dict:
    select = history[history["phase"] == "select"]
    settings = run.settings
    return {
        "procedure": (
            "select on train/val, then refit on train+val"
            if settings.refit_train_val and has_val
            else "select on train/val"
        ),
        "selected_epoch": int(run.state["best_epoch"]),
        "best_val_mae": None if not has_val else float(run.state["best_val_mae"]),
        "select_epochs_run": len(select),
        "refit_epochs": int((history["phase"] == "refit").sum()),
        "train_seconds_per_slab_epoch": float(history["seconds_per_slab"].mean()),
        "n_train_slabs": n_train,
        "n_val_slabs": n_val,
        "settings": asdict(settings),
        "device": str(run.device),
    }


def finetune(
    train: Sequence[Slab],
    val: Sequence[Slab],
    settings: FinetuneSettings,
    device: torch.device | str = "cpu",
    resume_dir: str | Path | None = None,
):
    """Fine-tune CHGNet (see the module docstring). Returns ``(model, history, summary)``:
    the final model in eval mode, one history row per epoch of each phase, and a summary with the
    selected epoch, its validation MAE and the time per training slab per epoch."""
    if not train:
        raise ValueError("CHGNet fine-tune: the training split is empty")
    fp = fingerprint(settings, train, val)
    run = _Run(settings, torch.device(device), fp, _resume_path(resume_dir))
    graphs_train = crystal_graphs(run.model, train, desc="CHGNet graphs (train)")
    graphs_val = crystal_graphs(run.model, val, desc="CHGNet graphs (val)") if val else []
    y_train, y_val = abs_targets(train), abs_targets(val)
    run.resume()

    _select(run, graphs_train, y_train, graphs_val, y_val)
    if run.state["phase"] == "refit" and not run.state["done"]:
        _refit(run, graphs_train + graphs_val, y_train + y_val)
    run.state["phase"], run.state["done"] = "final", True
    run.model.load_state_dict(run.best_state)
    run.model.eval()
    run.checkpoint()

    history = pd.DataFrame(run.state["history"])
    return run.model, history, _summary(run, history, len(train), len(val), bool(graphs_val))


def save_model(model, path: str | Path, summary: Mapping) -> None:
    """``best.pt``: CHGNet's own ``as_dict()`` (weights + constructor args) and the run summary;
    load it with :func:`load_model`."""
    with atomic_path(path) as tmp:
        torch.save(
            {"format": "chgnet-finetuned", "model": model.as_dict(), "summary": dict(summary)}, tmp
        )


def load_model(path: str | Path, device: torch.device | str = "cpu"):
    """The fine-tuned CHGNet saved by :func:`save_model`, in eval mode on ``device``."""
    from chgnet.model import CHGNet

    saved = torch.load(path, map_location="cpu", weights_only=False)
    if saved.get("format") != "chgnet-finetuned":
        raise ValueError(f"{path} is not a fine-tuned CHGNet checkpoint")
    return CHGNet.from_dict(saved["model"]).to(device).eval()
