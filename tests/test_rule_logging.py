"""A failed job's log survives the rerun that replaces it."""

from __future__ import annotations

import logging

import pytest

from magmom.rule_logging import log_to


def test_a_failed_job_keeps_a_copy_of_its_log(tmp_path):
    log = tmp_path / "logs" / "train" / "cgconv-r3.log"
    with pytest.raises(RuntimeError), log_to(log):
        logging.getLogger("magmom.test").info("epoch 1 done")
        raise RuntimeError("out of patience")
    kept = sorted(log.parent.glob("cgconv-r3.failed-*.log"))
    assert len(kept) == 1
    text = kept[0].read_text()
    assert "epoch 1 done" in text and "RuntimeError: out of patience" in text
    log.unlink()  # what Snakemake does before it reruns the job
    with log_to(log):
        print("second attempt")
    assert kept[0].read_text() == text and "second attempt" in log.read_text()
    assert sorted(log.parent.glob("cgconv-r3.failed-*.log")) == kept  # success keeps no copy
