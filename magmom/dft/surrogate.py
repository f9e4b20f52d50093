"""The CHGNet surrogate labeller (``labeller: chgnet``): |m| from CHGNet instead of DFT.

For rehearsing the workflow at full scale or on a laptop: the slab is pre-relaxed exactly as
for DFT (``dft.prerelax``), then CHGNet 0.4.2's predicted per-atom moments of the final
structure become the labels. CHGNet predicts magnitudes, so the record's signed ``magmoms`` equal
``abs_magmoms`` (all non-negative). Records carry ``labeller: chgnet`` and ``surrogate: true``;
the dataset rows carry ``labeller: chgnet``, which the report turns into a warning on every page.
No SCF runs, so ``dft.initial_moments`` does not apply: the record's ``initial_moments`` says so
(:data:`magmom.dft.initial_moments.SURROGATE_NOTE`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from magmom.chgnet import energy_and_magmoms
from magmom.elements import is_spin_polarised

from .gpaw_params import parameters_sha256
from .initial_moments import SURROGATE_NOTE
from .record import finite, set_moments, structure_dict
from .settings import DftSettings
from .staged_relaxation import prerelax_checkpointed

log = logging.getLogger(__name__)


def surrogate_parameters(settings: DftSettings) -> dict:
    from importlib import metadata

    return {
        "labeller": "chgnet",
        "chgnet": metadata.version("chgnet"),
        "prerelax": dict(sorted(settings.prerelax.config().items())),
    }


def label_with_chgnet(atoms, settings: DftSettings, workdir: str | Path, record: dict) -> dict:
    """Fill ``record`` (from :func:`magmom.dft.record.new_record`) with surrogate labels."""
    params = surrogate_parameters(settings)
    record["initial_moments"] = {"policy": None, "kept": None, "starts": {}, "note": SURROGATE_NOTE}
    record["parameters"] = params
    record["parameters_sha256"] = parameters_sha256(params)
    pre = prerelax_checkpointed(atoms, settings.prerelax, workdir)
    t0 = time.perf_counter()
    energy, magmoms = energy_and_magmoms(pre.atoms)
    t_label = time.perf_counter() - t0
    record["structure"] = structure_dict(pre.atoms)
    set_moments(record, magmoms)
    record.update(
        status="ok",
        reason=None,
        energy=finite(energy),
        spinpol=is_spin_polarised(pre.atoms.get_chemical_symbols()),
        relaxed=bool(pre.converged),
        stages={
            "prerelax": {
                "model": pre.model,
                "ionic_steps": pre.steps,
                "converged": pre.converged,
                "max_force": finite(pre.max_force),
                "wall_time": pre.wall_time,
            },
            "chgnet": {"wall_time": t_label},
        },
        wall_time={"prerelax": pre.wall_time, "chgnet": t_label, "total": pre.wall_time + t_label},
    )
    log.info(
        "surrogate labels (CHGNet): %d atoms, mean |m| %.3f μB, max |m| %.3f μB",
        len(magmoms), float(magmoms.mean()) if len(magmoms) else 0.0,
        float(magmoms.max()) if len(magmoms) else 0.0,
    )  # fmt: skip
    return record
