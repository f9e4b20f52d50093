"""magmom.slurm_limits: the partition time limit and the runtimes the Slurm profile asks for."""

from __future__ import annotations

import os
import stat
import time

import pytest

from magmom import slurm_limits as sl


@pytest.mark.parametrize(
    "text, minutes",
    [
        ("UNLIMITED", None),
        ("INFINITE", None),
        ("30", 30),
        ("90:30", 91),
        ("12:00:00", 720),
        ("1-00:00:00", 1440),
        ("3-00:00:00", 4320),
        ("2-12", 3600),
        ("1-01:30", 1530),
    ],
)
def test_parse_minutes(text, minutes):
    assert sl.parse_minutes(text) == minutes


def test_a_bad_setting_names_the_variable():
    with pytest.raises(ValueError, match="SLURM_MAX_RUNTIME='one day'"):
        sl.from_environment({sl.ENV: "one day"})
    with pytest.raises(ValueError, match="SLURM_MAX_RUNTIME='0'"):
        sl.from_environment({sl.ENV: "0"})
    assert sl.from_environment({sl.ENV: "2-00:00:00"}) == 2880
    assert sl.from_environment({}) is None


def test_runtime_is_capped_and_a_retry_asks_for_the_limit(monkeypatch):
    monkeypatch.setattr(sl, "_resolved", {"limit": None})  # this process: no limit
    assert sl.runtime(852, 1, 1440, resumes=True) == 852
    assert sl.runtime(300, 2, 1440, resumes=True) == 1440  # resumes: the limit, not 2 x 300
    assert sl.runtime(3000, 1, 1440) == 1440
    assert sl.runtime(3000, 3, 1440, resumes=True) == 1440
    assert sl.runtime(60, 2, 1440) == 120  # starts over: x attempt, at most the limit
    assert sl.runtime(852, 2, 1440) == 1440
    assert sl.runtime(120, 1, None) == 120
    assert sl.runtime(120, 3, None, resumes=True) == 360  # no limit: x attempt, as before


def test_pack_fills_groups_up_to_the_limit():
    estimates = {f"s{i:02d}": 300 for i in range(10)} | {"big": 2000, "mid": 852}
    groups = sl.pack(estimates, 1440)
    totals = sl.group_totals(estimates, groups, 1440)
    assert all(t <= 1440 for t in totals.values()), totals
    # the slab above the limit runs alone (capped at the limit)
    assert [j for j, g in groups.items() if g == groups["big"]] == ["big"]
    assert totals[groups["big"]] == 1440
    # 852 + 300 fits, 852 + 2 x 300 does not; 4 x 300 fit in a group, a fifth does not
    assert sorted(totals.values()) == [300, 1152, 1200, 1200, 1440]
    assert len(set(groups.values())) == 5
    # at most max_jobs per group, whatever the limit
    assert max(list(sl.pack(estimates, 1440, max_jobs=2).values()).count(g) for g in range(12)) == 2
    # no limit and no count: one group
    assert set(sl.pack(estimates, None).values()) == {0}


def test_a_retried_group_asks_for_the_limit_in_all():
    estimates = {"a": 852, "b": 300, "c": 100}
    groups = sl.pack(estimates, 1440)
    assert set(groups.values()) == {0}
    total = sl.group_totals(estimates, groups, 1440)[0]
    shares = {j: sl.retry_share(t, total, 1440) for j, t in estimates.items()}
    assert sum(shares.values()) <= 1440
    assert sum(shares.values()) >= 1440 - len(shares)
    assert all(shares[j] >= estimates[j] for j in estimates), shares
    assert sl.retry_share(5000, 1440, 1440) == 1440  # a lone slab above the limit


def _fake_scontrol(tmp_path, body: str) -> dict:
    script = tmp_path / "scontrol"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}


def test_partition_max_time_is_read_from_scontrol(tmp_path, monkeypatch):
    out = (
        "PartitionName=cpu AllowGroups=ALL MaxTime=1-00:00:00 State=UP\n"
        "PartitionName=gpu AllowGroups=ALL MaxTime=12:00:00 State=UP\n"
        "PartitionName=long AllowGroups=ALL MaxTime=UNLIMITED State=UP\n"
    )
    monkeypatch.setenv("PATH", _fake_scontrol(tmp_path, f"cat <<'EOF'\n{out}EOF\n")["PATH"])
    assert sl.partition_max_minutes(["cpu"]) == 1440
    assert sl.partition_max_minutes(["cpu", "gpu"]) == 720
    assert sl.partition_max_minutes(["long"]) is None
    assert sl.partition_max_minutes(["nosuch"]) is None


def test_an_unanswering_controller_costs_at_most_the_timeout(tmp_path, monkeypatch):
    """scontrol of a login node whose controller is down retries for many seconds: the limit is
    then unknown after the short timeout, not after the client's own."""
    monkeypatch.setenv("PATH", _fake_scontrol(tmp_path, "sleep 30\n")["PATH"])
    t0 = time.monotonic()
    with pytest.raises(sl.NoAnswer, match="no answer within 0.5 s"):
        sl.partition_max_minutes(["cpu"], timeout=0.5)
    assert time.monotonic() - t0 < 5
    # resolve() falls back on slurm.conf, else goes on without a limit; it exports nothing
    # (the jobs may ask again)
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "no-such.conf"))
    monkeypatch.setattr(sl, "_resolved", {})
    env = {}
    assert sl.resolve(["cpu"], env, timeout=0.5) is None
    assert sl.ENV not in env
    conf = tmp_path / "slurm.conf"
    conf.write_text(
        "# comment MaxTime=1\nPartitionName=DEFAULT MaxTime=2-00:00:00 State=UP\n"
        "PartitionName=cpu Nodes=n1 Default=YES\nPartitionName=gpu Nodes=n1 MaxTime=12:00:00\n"
        "PartitionName=long Nodes=n1 MaxTime=INFINITE\n"
    )
    monkeypatch.setenv("SLURM_CONF", str(conf))
    monkeypatch.setattr(sl, "_resolved", {})
    assert sl.resolve(["cpu"], env, timeout=0.5) == 2880
    assert sl.conf_max_minutes(["cpu", "gpu"]) == 720
    assert sl.conf_max_minutes(["long"]) is None


def test_resolve_prefers_the_setting_and_exports_what_scontrol_said(tmp_path, monkeypatch):
    monkeypatch.setattr(sl, "_resolved", {})
    monkeypatch.setenv(
        "PATH",
        _fake_scontrol(tmp_path, "echo PartitionName=cpu MaxTime=2-00:00:00\n")["PATH"],
    )
    env = {}
    assert sl.resolve(["cpu"], env) == 2880
    assert env[sl.ENV] == "2880"  # inherited by the Slurm jobs: they do not ask again
    monkeypatch.setattr(sl, "_resolved", {})
    assert sl.resolve(["cpu"], {sl.ENV: "600"}) == 600
    monkeypatch.setattr(sl, "_resolved", {})
    assert sl.resolve((), {}) is None  # not under the Slurm profile: no query


DRY_RUN = """\
[Sun Dec  6 21:00:00 2026]
localrule slab_settings:
    output: results/x/recipe/slab_settings/fcc-pure.json
    resources: tmpdir=/tmp

[Sun Dec  6 21:00:00 2026]
Group job dft-0 (jobs in lexicogr. order):

    [Sun Dec  6 21:00:00 2026]
    rule dft_slab:
        wildcards: slab_id=a
        resources: tmpdir=/tmp, runtime=300, mem_mb=1000

    [Sun Dec  6 21:00:00 2026]
    rule dft_slab:
        wildcards: slab_id=b
        resources: tmpdir=/tmp, runtime=500, mem_mb=1000

[Sun Dec  6 21:00:00 2026]
rule train:
    resources: tmpdir=/tmp, runtime=120, slurm_partition=gpu

[Sun Dec  6 21:00:00 2026]
checkpoint choose_seed_replicates:
    resources: tmpdir=/tmp, runtime=10
"""


def test_dry_run_jobs_reads_groups_and_single_jobs():
    """Groups, single rule jobs and a checkpoint job (not counted as the rule job above it)."""
    jobs, largest = sl.dry_run_jobs(DRY_RUN)
    assert jobs == {"dft-0": [300, 500], "train#1": [120], "choose_seed_replicates#2": [10]}
    assert largest == {"dft_slab": 500, "train": 120, "choose_seed_replicates": 10}
