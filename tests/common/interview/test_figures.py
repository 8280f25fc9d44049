"""Figures are read from results/<lab>/results.json; a missing one names its `labkit run`."""

import json

import pytest

from common.interview.figures import Figures, MissingFigure


@pytest.fixture
def figures(tmp_path):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "results.json").write_text(
        json.dumps(
            {
                "figures": {
                    "variants": {"batching on": {"knee rps": 612.4, "note": ""}},
                    "open loop, 1.5× capacity": {"p99 ms": 734.0},
                    "nothing": float("nan"),
                    "count": 3,
                }
            }
        )
    )
    return Figures(tmp_path)


@pytest.mark.parametrize(
    ("reference", "value"),
    [
        ("lab:variants.batching_on.knee_rps", 612.4),
        ("lab:variants.batching on.knee rps", 612.4),
        ("lab:Variants.Batching-On.Knee-RPS", 612.4),
        ("lab:open loop, 1.5× capacity.p99 ms", 734.0),
        ("lab:count", 3),
    ],
)
def test_dotted_paths_walk_nested_figures(figures, reference, value):
    assert figures.value(reference) == value


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("other:knee", "results.json does not exist yet. `labkit run other` writes it"),
        ("lab:variants.batching_off.knee_rps", "has no 'batching_off' at variants"),
        ("lab:nothing", "recorded nan there"),
        ("lab:variants.batching_on.note", "not a number"),
        ("lab:count.more", "count is a value"),
    ],
)
def test_a_missing_figure_says_which_run_writes_it(figures, reference, says):
    with pytest.raises(MissingFigure) as caught:
        figures.value(reference)
    assert says in str(caught.value)
    assert caught.value.lab == reference.partition(":")[0]
    assert f"`labkit run {caught.value.lab}`" in str(caught.value)


@pytest.mark.parametrize(
    "reference", ["no-colon", "lab:", "lab:.x", "lab:a..b", "Lab:x"]
)
def test_a_malformed_reference_is_a_bank_error(figures, reference):
    with pytest.raises(ValueError, match="not a figure reference"):
        figures.value(reference)
