"""py-spy on a real process (infra.sampler) and the flame graph drawn from it (infra.flame_svg)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from infra.flame_svg import flame_svg, parse_folded
from infra.sampler import SamplerError, folded_shares, package_shares, sampling

FOLDED = "main (app.py:1);work (app.py:5);spin (lib/x.py:9) 30\nmain (app.py:1);idle (app.py:7) 10\n"


def test_the_call_tree_sums_each_frames_samples() -> None:
    root = parse_folded(FOLDED + "not a stack line\n")
    assert root.samples == 40
    main = root.children["main (app.py:1)"]
    assert main.samples == 40
    assert main.children["work (app.py:5)"].samples == 30
    assert main.children["idle (app.py:7)"].samples == 10


def test_each_box_is_as_wide_as_its_share_and_says_it() -> None:
    svg = flame_svg(FOLDED, title="t")
    widths = {
        name: float(width)
        for name, width in re.findall(
            r'<title>(.+?): [\d,]+ samples[^<]*</title><rect [^>]*width="([\d.]+)"', svg
        )
    }
    assert widths["main (app.py:1)"] == 1200.0
    assert widths["work (app.py:5)"] == pytest.approx(900.0)
    assert widths["idle (app.py:7)"] == pytest.approx(300.0)
    assert "work (app.py:5): 30 samples, 75.0%" in svg
    with pytest.raises(ValueError, match="no samples"):
        flame_svg("")


def test_shares_by_function_and_by_package(tmp_path) -> None:
    path = tmp_path / "f.txt"
    path.write_text(FOLDED)
    assert dict(folded_shares(path, below=1.0)) == {
        "main (app.py)": 1.0,
        "work (app.py)": 0.75,
        "spin (x.py)": 0.75,
        "idle (app.py)": 0.25,
    }
    assert "main (app.py)" not in dict(folded_shares(path))  # the trunk is left out
    assert dict(package_shares(path)) == {"lib": 0.75, "other": 0.25}


@pytest.mark.server
def test_a_running_process_is_sampled_where_it_spends_its_time(tmp_path) -> None:
    # On Linux with kernel.yama.ptrace_scope 1 (Ubuntu's default) only an
    # ancestor may trace a process, and py-spy is this one's sibling: the
    # busy process names any process as its tracer first (PR_SET_PTRACER).
    program = textwrap.dedent(
        """
        import sys, time
        if sys.platform == "linux":
            import ctypes
            PR_SET_PTRACER, ANY = 0x59616D61, ctypes.c_ulong(-1)
            ctypes.CDLL(None).prctl(PR_SET_PTRACER, ANY, 0, 0, 0)
        def spin_here(until):
            while time.monotonic() < until:
                sum(range(1000))
        spin_here(time.monotonic() + 20)
        """
    )
    busy = subprocess.Popen([sys.executable, "-c", program])
    out = tmp_path / "busy.txt"
    try:
        try:
            with sampling(busy.pid, out, seconds=1):
                pass  # the process keeps itself busy
        except SamplerError as exc:
            if "permission" in str(exc).lower() and os.geteuid() != 0:
                pytest.skip(f"py-spy may not trace processes here: {exc}")
            raise
    finally:
        busy.kill()
        busy.wait()
    shares = dict(folded_shares(out, below=1.0))
    assert shares.get("spin_here (<string>)", 0) > 0.9, shares
