"""The open-loop SSE load generator's pieces: the arrival schedule, the event parser, loopback only.

End to end (a real service streaming real tokens) it is exercised by the
llm_serving lab's m5 tests and its run.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from infra.sse_load import _events, arrival_offsets, run_sse_load


def test_poisson_arrivals_have_exponential_gaps():
    offsets = arrival_offsets(50.0, 40.0, 10_000, "poisson", seed=1)
    assert abs(len(offsets) - 2000) < 4 * np.sqrt(2000)
    assert offsets == sorted(offsets) and offsets[-1] < 40.0
    gaps = np.diff([0.0, *offsets])
    assert stats.kstest(gaps, "expon", args=(0, 1 / 50.0)).pvalue > 0.01
    assert offsets == arrival_offsets(50.0, 40.0, 10_000, "poisson", seed=1)


def test_constant_arrivals_and_the_bounds():
    assert arrival_offsets(4.0, 1.0, 100, "constant") == [0.0, 0.25, 0.5, 0.75]
    assert len(arrival_offsets(1000.0, 10.0, 25, "poisson")) == 25
    with pytest.raises(ValueError):
        arrival_offsets(float("nan"), 1.0, 10)
    with pytest.raises(ValueError):
        arrival_offsets(1.0, 1.0, 10, "bursty")


def test_the_parser_pops_complete_events_and_skips_pings():
    buffer = bytearray(b": ping\r\n\r\nevent: token\r\ndata: {}\r\n\r\nevent: do")
    assert _events(buffer) == ["token"]
    buffer += b"ne\r\ndata: {}\r\n\r\ndata: x\n\n"
    assert _events(buffer) == ["done", "message"]
    assert buffer == bytearray()


def test_only_loopback_is_loaded():
    with pytest.raises(ValueError, match="only loads servers on this machine"):
        run_sse_load(
            "http://10.0.0.1:8000",
            "/generate",
            [{}],
            rate=1,
            duration_s=1,
            max_requests=1,
        )
