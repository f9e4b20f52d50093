"""What the GPAW records say about the initial-moment starts and the DFT cost (issue 21 items 2, 5).

Reads every record given (files or directories of ``<slab_id>.json``, default the shipped
``data/mini/records``) and prints Markdown for the README:

1. **Start evidence per element group** (:mod:`magmom.dft.start_evidence`): per group and start,
   how often the start is kept, reaches the same state as the kept one or a higher one (ΔE at
   equal settings per slab and per atom), partial and single comparisons counted apart; the
   policy the numbers support per group and the number of slabs behind it.
2. **The core-hour consequence**: the full recipe (``--config``, default ``config.yaml``) priced by
   :mod:`magmom.dft.cost_model` under the README's policies, the per-group policy of (1) and
   ``--policies`` (``python benchmarks/dft_cost.py --estimate-only`` prints the same totals for
   the configured policy alone).
3. **The cost model against the records** (:mod:`magmom.dft.cost_check`): per start, SCF
   iterations, ionic steps and core-seconds predicted against measured; the error; the refits
   and the full-recipe estimate they would give (used only from
   :data:`magmom.dft.cost_check.REFIT_MIN_RECORDS` records on); and, with ``--settings-check``
   (default ``data/mini/settings-check/dft_settings.json`` when present), the model against the
   CPU times of the settings check's single points at the study's settings.

No DFT runs: a few seconds of CPU. Use:

    .venv/bin/python benchmarks/dft_records.py                        # the shipped records
    .venv/bin/python benchmarks/dft_records.py DIR --section evidence  # one section
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from magmom.dft import cost_check, cost_model, start_evidence  # noqa: E402
from magmom.dft.initial_moments import DEFAULT_POLICY  # noqa: E402
from magmom.dft.record import read_records  # noqa: E402

README_POLICIES = (
    "eos", "floor+eos", DEFAULT_POLICY, "floor+eos+afm", "floor-afm",
    f"{DEFAULT_POLICY},fe-co-ni=eos",
)  # fmt: skip
SECTIONS = ("evidence", "cost", "all")


def recipe_costs(config: Path, policies, **refit):
    with open(config) as fh:
        cfg = yaml.safe_load(fh)
    shapes = cost_model.slab_shapes(cfg["recipe"], tempfile.mkdtemp()).values()
    tasks = int(cfg["dft"]["resources"]["tasks"])
    job = cost_model.JobSettings.from_config(cfg)
    return start_evidence.policy_costs(shapes, job, tasks, policies, **refit), tasks, job


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("records", nargs="*", default=[str(ROOT / "data/mini/records")])
    p.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    p.add_argument("--policies", nargs="*", default=[], help="more policies to price")
    p.add_argument("--settings-check", type=Path, default=None)
    p.add_argument("--section", choices=SECTIONS, default="all")
    args = p.parse_args()
    records = read_records(args.records)
    print(f"{len(records)} records: {', '.join(r['slab_id'] for r in records)}\n")
    if args.section in ("evidence", "all"):
        found = start_evidence.outcomes(records)
        print("### Initial-moment starts per element group\n")
        print(start_evidence.evidence_markdown(found))
        recs = start_evidence.recommend(start_evidence.group_stats(found))
        policies = list(dict.fromkeys([*README_POLICIES, start_evidence.policy_string(recs)]))
        policies += [x for x in args.policies if x not in policies]
        costs, tasks, _ = recipe_costs(args.config, policies)
        print(
            f"\n### Core-hours of the full recipe per policy ({args.config.name}, cost model at "
            f"{tasks} processes per slab and start, M core-hours)\n"
        )
        print(start_evidence.cost_markdown(costs))
    if args.section in ("cost", "all"):
        costs = cost_check.all_start_costs(records)
        print("\n### The cost model against the records\n")
        print(cost_check.comparison_markdown(costs))
        fits = cost_check.refit(costs)
        print("\n" + cost_check.refit_markdown(fits))
        before, tasks, job = recipe_costs(args.config, [DEFAULT_POLICY])
        budget = job.budget  # the priced settings' budget of one start
        refit_all = cost_check.refit_arguments(fits, budget=budget)
        after, _, _ = recipe_costs(args.config, [DEFAULT_POLICY], **refit_all)
        b, a = before[0].core_hours["total"], after[0].core_hours["total"]
        used = cost_check.refit_arguments(fits, cost_check.REFIT_MIN_RECORDS, budget)
        if "scf_iterations" not in refit_all:
            print(
                f"\nThe SCF-iterations fit is of records budgeted at "
                f"{fits['scf_per_start'].current} iterations per start; {args.config.name} "
                f"budgets {budget.scf_iterations} ({budget.scf_runs} SCF runs): not applied."
            )
        print(
            f"\nFull recipe under `{DEFAULT_POLICY}` at {tasks} processes: {b / 1e6:.2f} M "
            f"core-hours with the cost model's constants, {a / 1e6:.2f} M with the refits "
            f"{ {k: round(v, 3) for k, v in refit_all.items()} } (x{a / b:.2f}); "
            + (
                "the refits have enough records to be used."
                if used == refit_all and used
                else "no refit applies to these settings."
                if not refit_all
                else f"not used: fewer than {cost_check.REFIT_MIN_RECORDS} records behind them."
            )
        )
        print(
            f"\nCore-seconds measured / predicted ({cost_check.LOAD_NOTE}), median (range): "
            f"{cost_check.core_seconds_error(costs)} with the cost model's constants, "
            f"{cost_check.core_seconds_error(costs, **cost_check.refit_arguments(fits))} with the "
            "refits (in-sample: fitted on these records)."
        )
        check = args.settings_check or ROOT / "data/mini/settings-check/dft_settings.json"
        if check.exists():
            results = json.loads(check.read_text())
            print("\n" + cost_check.settings_check_markdown(results))
            print("\n" + cost_check.plane_wave_factor_markdown(results))


if __name__ == "__main__":
    main()
