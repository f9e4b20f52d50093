"""Where the rule helpers live: ``rules/common.smk`` holds what the stages share; a helper (input,
params or resource function, or constant) that serves one stage sits in
``rules/helpers/<stage>.smk``, which that stage's ``rules/<stage>.smk`` includes above its rules.
(Functions stay out of the rule files themselves: ``snakemake --lint`` flags rules and functions in
one file.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"


def stage_files() -> dict[str, str]:
    """``rules/<stage>.smk`` (common.smk left out) -> its text with its helpers' text appended."""
    out = {}
    for path in sorted(RULES.glob("*.smk")):
        if path.name == "common.smk":
            continue
        helpers = RULES / "helpers" / path.name
        out[path.name] = path.read_text() + (helpers.read_text() if helpers.exists() else "")
    return out


def top_level_names(text: str) -> list[str]:
    """Functions and constants a .smk file defines at the top level."""
    return [d or c for d, c in re.findall(r"^(?:def (\w+)\(|(\w+) = )", text, re.M)]


def uses(name: str, text: str) -> int:
    return len(re.findall(rf"\b{re.escape(name)}\b", text))


def test_common_smk_holds_no_helper_of_a_single_stage():
    common = (RULES / "common.smk").read_text()
    stages = stage_files()  # (the Snakefile's `all` gathers every stage: final_targets is shared)
    single = {}
    for name in top_level_names(common):
        users = [f for f, text in stages.items() if uses(name, text)]
        if uses(name, common) == 1 and len(users) == 1:
            single[name] = users[0]
    misplaced = single
    assert not misplaced, (
        "helpers of common.smk that one stage uses; move each to rules/helpers/<stage>.smk: "
        + ", ".join(f"{n} -> rules/helpers/{f}" for n, f in sorted(misplaced.items()))
    )


def test_each_helper_file_is_included_by_its_own_stage():
    for helpers in sorted((RULES / "helpers").glob("*.smk")):
        stage = RULES / helpers.name
        assert stage.exists(), f"{helpers.relative_to(ROOT)} has no stage rules/{helpers.name}"
        include = f'include: "helpers/{helpers.name}"'
        assert include in stage.read_text(), f"rules/{helpers.name} lacks `{include}`"
        others = [p.name for p in RULES.glob("*.smk") if p != stage and include in p.read_text()]
        assert not others, f"{helpers.name} is included by {others} too"


def test_every_helper_is_defined_once():
    """No name is defined in two rule files (the later include would silently win)."""
    seen: dict[str, str] = {}
    twice = []
    for path in sorted([*RULES.glob("*.smk"), *RULES.glob("helpers/*.smk")]):
        for name in top_level_names(path.read_text()):
            if name in seen:
                twice.append(f"{name} ({seen[name]}, {path.relative_to(RULES)})")
            seen[name] = str(path.relative_to(RULES))
    assert not twice, f"defined twice: {', '.join(twice)}"
