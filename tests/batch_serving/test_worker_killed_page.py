"""The results page's "Faults" section: the worker-killed run's rows, shown.

Fast: no Ray. The figures have the fields ``run_faults.worker_killed``
records; the run itself is ``labkit run batch_serving``.
"""

from __future__ import annotations

from common.results import Results
from labs.batch_serving.run_faults import report_worker_killed


def figures(**changed) -> dict:
    return {
        "partitions": 4,
        "worker_killed": True,
        "committed_at_kill": 1,
        "job_failed": False,
        "resumed": False,
        "rows_expected": 191_820,
        "rows_written": 191_820,
        "duplicates": 0,
        "missing": 0,
        "unexpected": 0,
        "seconds": 13.4,
        "first_run_s": 12.9,
        **changed,
    }


def page(tmp_path, measured: dict) -> str:
    results = Results("batch_serving", "Batch serving", root=tmp_path)
    report_worker_killed(results, measured)
    return results.write().read_text()


def test_the_faults_section_shows_rows_expected_written_duplicated_and_missing(
    tmp_path,
) -> None:
    text = page(tmp_path, figures())
    assert "## Faults (m3)" in text
    assert (
        "| fault | rows expected | rows written | duplicates | missing | resumed "
        "| seconds |"
    ) in text
    assert (
        "| scoring actor SIGKILLed mid job | 191,820 | 191,820 | 0 | 0 | no |" in text
    )
    assert "after 1 of 4 partitions were committed" in text
    assert "**0 rows missing, 0 duplicates**" in text


def test_lost_rows_and_a_missed_kill_are_said_not_hidden(tmp_path) -> None:
    text = page(
        tmp_path,
        figures(worker_killed=False, rows_written=191_819, missing=2, duplicates=1),
    )
    assert "no worker was killed" in text
    assert "**2 rows missing, 1 duplicates**" in text
    assert "ROWS WERE LOST OR REPEATED" in text
