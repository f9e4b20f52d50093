"""Every rule's conda env provides what its script imports, pinned like the project's venv.

No conda channel is reachable where these tests run, so the envs cannot be built here; instead the
imports are read statically (:mod:`magmom.source_closure`): each workflow script's imports plus the
transitive imports of the ``magmom`` modules it uses are mapped to their distributions and looked
up in the env file of the rule that runs the script (``rules/*.smk``: ``conda:`` and ``script:`` of
the same rule).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from magmom.source_closure import closure, imports_of, magmom_files

ROOT = Path(__file__).resolve().parents[1]
RULE_RE = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.MULTILINE)
DIRECTIVE_RE = r"^\s+{}:\s*\n\s+(?:f?\"([^\"]+)\"|'([^']+)')"

# Import names the venv's distribution metadata cannot resolve, or whose conda-forge name differs.
CONDA_ALIASES = {"torch": {"pytorch", "pytorch-cpu", "pytorch-gpu"}, "xgboost": {"py-xgboost"}}
# Provided to every `script:` job by Snakemake itself (its preamble puts its package on sys.path).
PROVIDED = {"snakemake"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def rule_blocks() -> dict[str, tuple[Path, str]]:
    """rule name -> (rule file, rule body) for every rule of rules/*.smk."""
    blocks = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text()
        starts = list(RULE_RE.finditer(text))
        for k, m in enumerate(starts):
            end = starts[k + 1].start() if k + 1 < len(starts) else len(text)
            body = text[m.end() : end]
            # a rule body ends at the first non-indented line (e.g. a helper def after it)
            stop = re.search(r"^\S", body, re.MULTILINE)
            blocks[m.group(1)] = (smk, body[: stop.start()] if stop else body)
    return blocks


def directive(body: str, name: str) -> str | None:
    m = re.search(DIRECTIVE_RE.format(name), body, re.MULTILINE)
    return (m.group(1) or m.group(2)) if m else None


def script_rules() -> list[tuple[str, Path, Path | None]]:
    """(rule, script path, env path or None) for every rule with a ``script:``."""
    out = []
    for rule, (smk, body) in rule_blocks().items():
        script = directive(body, "script")
        if script is None:
            continue
        env = directive(body, "conda")
        out.append(
            (
                rule,
                (smk.parent / script).resolve(),
                (smk.parent / env).resolve() if env else None,
            )
        )
    return sorted(out)


def third_party_imports(script: Path) -> dict[str, list[str]]:
    """top-level import name -> where it is imported (script, then magmom modules it uses)."""
    found: dict[str, list[str]] = {}
    stdlib = set(sys.stdlib_module_names)
    for path in closure(script):
        for module in imports_of(path):
            top = module.split(".")[0]
            if top not in stdlib and top not in PROVIDED | {"magmom", "__future__"}:
                found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


@cache
def distributions_of(import_name: str) -> frozenset[str]:
    dists = importlib.metadata.packages_distributions().get(import_name, [import_name])
    return frozenset(normalise(d) for d in dists)


def env_requirements(env_path: Path) -> dict[str, str | None]:
    """normalised package name -> pinned version (None when unpinned), conda and pip sections."""
    env = yaml.safe_load(env_path.read_text())
    specs = []
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict):
            specs.extend(s for s in dep.get("pip", []) if not s.startswith("-"))
        else:
            specs.append(dep)
    out = {}
    for spec in specs:
        # conda's name=version=build: the build string (e.g. *mpi_openmpi*) is not the version
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(?:(==|=)\s*([^\s,;=]+))?", spec)
        assert m, f"{env_path.name}: cannot parse dependency {spec!r}"
        out[normalise(m.group(1))] = m.group(3)
    return out


SCRIPT_RULES = script_rules()


def test_lazy_package_names_bring_their_submodules_imports():
    # the static reading sees no import behind a lazy name: the table has to be followed
    assert ROOT / "magmom" / "graphs" / "dataset.py" in magmom_files("magmom.graphs.GraphCache")
    assert ROOT / "magmom" / "dft" / "eos.py" in magmom_files("magmom.dft.run_eos")
    assert magmom_files("magmom.graphs.CacheReader") == magmom_files("magmom.graphs")


def test_rules_with_scripts_were_found():
    assert len(SCRIPT_RULES) >= 5, "rules/*.smk parsing found too few script rules"


@pytest.mark.parametrize("rule,script,env", SCRIPT_RULES, ids=[r for r, _, _ in SCRIPT_RULES])
def test_rule_env_provides_script_imports(rule, script, env):
    assert env is not None, f"rule {rule} runs {script.name} but has no conda: env"
    assert env.is_file(), f"rule {rule}: conda env {env} does not exist"
    assert script.is_file(), f"rule {rule}: script {script} does not exist"
    provided = set(env_requirements(env))
    missing = []
    for name, where in sorted(third_party_imports(script).items()):
        candidates = distributions_of(name) | CONDA_ALIASES.get(name, set())
        if not candidates & provided:
            missing.append(f"{name} (dist {'/'.join(sorted(candidates))}; imported in {where[0]})")
    assert not missing, (
        f"rule {rule}: {env.relative_to(ROOT)} lacks what {script.name} imports: "
        + "; ".join(missing)
    )


ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))


@pytest.mark.parametrize("env", ENV_FILES, ids=[e.name for e in ENV_FILES])
def test_env_pins_match_the_venv(env):
    """Pins equal the versions the tests run against (requirements.txt + constraints.txt)."""
    doc = yaml.safe_load(env.read_text())
    assert "conda-forge" in doc.get("channels", []), f"{env.name}: conda-forge channel missing"
    assert "defaults" not in doc.get("channels", []), f"{env.name}: uses the defaults channel"
    wrong = []
    for name, version in env_requirements(env).items():
        if name in {"python", "pip"}:
            continue
        assert version, f"{env.name}: {name} is not pinned"
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not in the venv (e.g. a cluster-only package): nothing to compare with
        if installed.split("+")[0] != version:
            wrong.append(f"{name}=={version} (venv: {installed})")
    assert not wrong, f"{env.name}: pins differ from the venv: {', '.join(wrong)}"


def test_every_env_file_is_used_by_a_rule():
    used = {env for _, _, env in SCRIPT_RULES if env is not None}
    unused = [e.name for e in ENV_FILES if e.resolve() not in used]
    assert not unused, f"env files no rule uses: {unused}"
