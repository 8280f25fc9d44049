"""Results pages, the gathered report, and the bench --json stdout contract."""

import json
import subprocess
import sys

from common.report import gather
from common.results import Results, fmt, markdown_table


def test_results_write_json_page_and_plot(tmp_path):
    results = Results("toy", "Toy lab", root=tmp_path)
    results.add("rows_per_s", 123456.7)
    results.table([{"backend": "sqlite", "p99_ms": 0.25}], title="Latency")
    with results.plot("curve", "A curve") as ax:
        ax.plot([1, 2, 3], [3, 1, 2])
    page = results.write()
    payload = json.loads((tmp_path / "toy" / "results.json").read_text())
    assert payload["figures"] == {"rows_per_s": 123456.7}
    assert payload["machine"]["logical_cores"] >= 1 and "python" in payload["machine"]
    text = page.read_text()
    assert text.startswith("# Toy lab\n") and "| sqlite | 0.250 |" in text
    assert "![A curve](plots/run-curve.png)" in text
    assert (tmp_path / "toy" / "plots" / "run-curve.png").stat().st_size > 1000


def test_bench_page_is_separate_from_run_page(tmp_path):
    Results("toy", "Toy", kind="run", root=tmp_path).write()
    Results("toy", "Toy", kind="bench", root=tmp_path).write()
    assert {p.name for p in (tmp_path / "toy").iterdir()} == {
        "results.json",
        "README.md",
        "bench.json",
        "bench.md",
    }


def test_report_gathers_pages_in_order_and_fixes_image_links(tmp_path):
    for lab in ("second", "first"):
        results = Results(lab, lab.title(), root=tmp_path)
        with results.plot("p", "Plot") as ax:
            ax.plot([0, 1])
        results.write()
    report = gather(["first", "second"], root=tmp_path).read_text()
    assert report.index("## First") < report.index("## Second")
    assert "](first/plots/run-p.png)" in report and "](plots/" not in report


def test_empty_report_says_how_to_fill_it(tmp_path):
    assert "labkit demo" in gather([], root=tmp_path).read_text()


def test_fmt_and_table():
    assert [fmt(v) for v in (1234567, 0.000123, 3.14159, 25.0, None, "x")] == [
        "1,234,567",
        "0.000123",
        "3.14",
        "25.0",
        "",
        "x",
    ]
    assert markdown_table([{"a": 1, "b": 2.5}]).splitlines() == [
        "| a | b |",
        "|---|---|",
        "| 1 | 2.50 |",
    ]


def test_stdout_to_stderr_captures_child_processes():
    code = (
        "import subprocess, sys\n"
        "from common.kit.steps import stdout_to_stderr\n"
        "with stdout_to_stderr():\n"
        "    print('log line')\n"
        "    subprocess.run([sys.executable, '-c', 'print(\"child log\")'])\n"
        "print('{\"ok\": 1}')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == {"ok": 1}
    assert "log line" in out.stderr and "child log" in out.stderr
