"""Latency summaries against numpy's percentiles, and the timers."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.timing import Stopwatch, summarize, time_calls


@given(
    st.lists(
        st.floats(min_value=0, max_value=10, allow_nan=False), min_size=1, max_size=200
    )
)
def test_summary_matches_numpy(samples):
    summary = summarize(samples, unit="ms")
    values = np.array(samples) * 1e3
    for p in (50, 95, 99):
        assert summary[f"p{p}"] == pytest.approx(np.percentile(values, p))
    assert summary["n"] == len(samples)
    assert summary["p50"] <= summary["p99"] <= summary["max"] + 1e-9


def test_empty_summary_is_an_error():
    with pytest.raises(ValueError, match="zero samples"):
        summarize([])


def test_time_calls_counts_calls_and_warmup():
    calls = []
    durations = time_calls(lambda: calls.append(1), n=5, warmup=2)
    assert len(calls) == 7 and durations.shape == (5,) and (durations >= 0).all()


def test_stopwatch_accumulates():
    watch = Stopwatch()
    for _ in range(2):
        with watch("stage"):
            sum(range(1000))
    assert watch.totals["stage"] > 0
