"""The study's tables as the recipe source: rows -> slabs, ids shared with the generator, checks.

Uses an excerpt of the two published tables (tests/data/study-recipe-excerpt/: 23 random-alloy and
29 ordered rows, the study's bytes) and broken copies of it.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from magmom.recipe import slab_index
from magmom.recipe.index import cache_key
from magmom.recipe.manifest import enumerate_slabs, recipe_rows
from magmom.recipe.study_tables import RecipeTableError, read_table

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = ROOT / "tests" / "data" / "study-recipe-excerpt"
FILES = {"compositions": "compositions.csv", "ordered": "ordered-compositions.csv"}


def recipe_for(directory: Path | str) -> dict:
    recipe = yaml.safe_load((ROOT / "config.yaml").read_text())["recipe"]
    recipe["source"] = "study_tables"
    recipe["study_tables"] = {k: str(Path(directory) / f) for k, f in FILES.items()}
    return recipe


def broken_copy(tmp_path: Path, key: str, line: int, old: str, new: str) -> Path:
    """The excerpt in ``tmp_path`` with ``old`` -> ``new`` on (1-based) ``line`` of one table."""
    for k, name in FILES.items():
        data = (EXCERPT / name).read_bytes()
        if k == key:
            lines = data.split(b"\r\n")
            assert old.encode() in lines[line - 1], (old, lines[line - 1][:80])
            lines[line - 1] = lines[line - 1].replace(old.encode(), new.encode(), 1)
            data = b"\r\n".join(lines)
        (tmp_path / name).write_bytes(data)
    return tmp_path


def test_excerpt_rows_become_slabs():
    specs = enumerate_slabs(recipe_for("tests/data/study-recipe-excerpt"))  # repo-relative path
    by_type: dict[str, int] = {}
    for s in specs:
        by_type[s.comp_type] = by_type.get(s.comp_type, 0) + 1
    # variants from n_variants: pure 3 x 1, binary 12 x 4, ternary 6 x 3, senary 2 x 1
    assert by_type == {
        "pure": 3, "binary": 48, "ternary": 18, "senary": 2,
        "dilute_1": 6, "dilute_2": 6, "binary_proto": 12, "ternary_proto": 5,
    }  # fmt: skip
    ids = {s.slab_id: s for s in specs}
    assert {f"ag050-co050-{lat}-random-v{v}" for lat in ("fcc", "hcp") for v in range(4)} <= set(
        ids
    )
    # role order read from the fractions: dilute host first, Heusler X (1/2) first
    host_ag = ids["ag098-co002-fcc-dilute_1_top-v0"]
    assert host_ag.elements == "Ag Co" and host_ag.counts == "63 1" and host_ag.size == "4x4x4"
    assert ids["ag003-co097-hcp-dilute_2_far_top-v0"].elements == "Co Ag"
    l21 = ids["ag025-al025-co050-fcc-heusler_l21-v0"]
    assert l21.elements == "Co Ag Al" and l21.counts == "32 16 16"
    assert ids["co075-fe025-hcp-d0_19_a3b-v0"].size == "2x2x4"
    assert ids["co075-fe025-hcp-d0_19_a3b-v0"].counts == "12 4"


def test_excerpt_rows_equal_the_generator_rows():
    """The generator on the excerpt's elements holds every deterministic row of the excerpt."""
    recipe = recipe_for(EXCERPT)
    tables = recipe_rows(enumerate_slabs(recipe))
    generator = copy.deepcopy(recipe)
    generator["source"] = "generator"
    generator["elements"] = ["Ag", "Al", "Co", "Cu", "Fe"]
    mine = recipe_rows(enumerate_slabs(generator))
    deterministic = {r: v for r, v in tables.items() if r.comp_type not in ("ternary", "senary")}
    assert len(deterministic) == 44
    assert {r: mine.get(r) for r in deterministic} == deterministic


def test_line_endings_and_element_filter(tmp_path):
    for name in FILES.values():
        (tmp_path / name).write_bytes((EXCERPT / name).read_bytes().replace(b"\r\n", b"\n"))
    crlf = enumerate_slabs(recipe_for(EXCERPT))
    assert enumerate_slabs(recipe_for(tmp_path)) == crlf
    two = recipe_for(EXCERPT)
    two["elements"] = ["Ag", "Co"]
    kept = enumerate_slabs(two)
    assert kept == [s for s in crlf if set(s.elements.split()) <= {"Ag", "Co"}]
    assert {s.comp_type for s in kept} == {"pure", "binary", "dilute_1", "dilute_2"}


BROKEN = {
    # name: (table, line, old, new, substrings of the message)
    "bad-header": (
        "compositions", 1, "lattice_type", "lattice",
        ["line 1", "column 'lattice'", "column 3 must be 'lattice_type'"],
    ),
    "unknown-element-column": (
        "compositions", 1, ",zn", ",xx", ["line 1", "column 'xx'", "not an element column"],
    ),
    "fractions-not-summing-to-1": (
        "compositions", 5, "0.125000", "0.150000",
        ["line 5 (index 27)", "column 'ag, co'", "fractions sum to 1.025000, must sum to 1"],
    ),
    "not-a-number": (
        "compositions", 2, "1.000000", "one", ["line 2 (index 1)", "column 'ag'", "not a number"],
    ),
    "unknown-type": (
        "compositions", 5, "binary", "binry", ["line 5 (index 27)", "column 'type'", "'binry'"],
    ),
    "unknown-placement": (
        "ordered", 2, "dilute_1_top", "dilute_1_side",
        ["line 2", "column 'placement'", "'dilute_1_side' is not a dilute_1 placement"],
    ),
    "placement-counts": (
        "ordered", 18, "l1_2_a3b", "l1_2_ab3",
        ["line 18 (index 1793)", "column 'placement'", "l1_2_ab3 needs 4 of 16 atoms of Co"],
    ),
    "bad-size": ("ordered", 2, ",4,4,4,", ",4,0,4,", ["line 2", "column 'ny'", "'0'"]),
    "wrong-lattice": (
        "ordered", 14, "fcc", "bcc", ["line 14", "column 'lattice_type'", "built on fcc, not bcc"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_rows_name_file_line_and_column(tmp_path, case):
    key, line, old, new, needles = BROKEN[case]
    directory = broken_copy(tmp_path, key, line, old, new)
    with pytest.raises(RecipeTableError) as err:
        enumerate_slabs(recipe_for(directory))
    message = str(err.value)
    assert str(directory / FILES[key]) in message
    for needle in needles:
        assert needle in message, f"{needle!r} missing from:\n{message}"


def test_duplicate_row_and_missing_file(tmp_path):
    data = (EXCERPT / FILES["compositions"]).read_bytes()
    lines = data.rstrip(b"\r\n").split(b"\r\n")
    (tmp_path / "dup.csv").write_bytes(b"\r\n".join([*lines, lines[3]]) + b"\r\n")
    with pytest.raises(RecipeTableError, match=r"line 25 \(index 7\): repeats the row on line 4"):
        read_table(tmp_path / "dup.csv", "compositions")
    recipe = recipe_for(EXCERPT)
    recipe["study_tables"]["ordered"] = str(tmp_path / "nowhere.csv")
    with pytest.raises(RecipeTableError, match=r"recipe.study_tables.ordered.*not found"):
        cache_key(recipe)


def test_slab_index_follows_the_table_bytes(tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    for name in FILES.values():
        (tables / name).write_bytes((EXCERPT / name).read_bytes())
    config = {"recipe": recipe_for(tables)}
    first = slab_index(config, tmp_path / "cache")
    assert len(first) == 100 and "ag100-fcc-pure-v0" in first
    broken_copy(tables, "compositions", 2, ",1,1.000000", ",2,1.000000")  # Ag: 2 variants
    second = slab_index(config, tmp_path / "cache")
    assert set(second) - set(first) == {"ag100-fcc-pure-v1"}


def test_snakemake_stops_at_parse_time_on_a_broken_table(tmp_path):
    directory = broken_copy(tmp_path, "ordered", 2, "dilute_1_top", "dilute_1_side")
    override = tmp_path / "tables.yaml"
    tables = {k: str(directory / f) for k, f in FILES.items()}
    override.write_text(yaml.safe_dump({"recipe": {"study_tables": tables}}))
    cmd = [
        sys.executable, "-m", "snakemake", "-n", "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(tmp_path), "--configfile", str(ROOT / "config.yaml"), str(override),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for needle in (str(directory / FILES["ordered"]), "line 2 (index 1)", "column 'placement'"):
        assert needle in output, f"{needle!r} missing from:\n{output[-3000:]}"
    assert not (tmp_path / "results").exists()
