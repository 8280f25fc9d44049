"""Solution markers: parsing, stubbing and every malformed case."""

import ast
from pathlib import Path
from textwrap import dedent

import pytest

from common.kit.regions import RegionError, parse_regions, stub_source

PATH = Path("lab/module.py")


def parse(source: str, milestones=("m1", "m2")):
    return parse_regions(dedent(source), PATH, milestones)


def test_region_found_with_description_and_function():
    [region] = parse(
        """
        class Store:
            def read(self, keys):
                '''Read keys.'''
                # BEGIN SOLUTION m2: look the keys up
                return [k for k in keys]
                # END SOLUTION m2
        """
    )
    assert (region.milestone, region.description, region.function) == (
        "m2",
        "look the keys up",
        "Store.read",
    )
    assert (region.begin, region.end, region.indent) == (5, 7, "        ")


def test_stub_keeps_signature_and_docstring_and_raises():
    source = dedent(
        """
        def add(a, b):
            \"\"\"Add.\"\"\"
            # BEGIN SOLUTION m1
            return a + b
            # END SOLUTION

        def sub(a, b):
            # BEGIN SOLUTION m2: subtract
            return a - b
            # END SOLUTION
        """
    )
    regions = parse_regions(source, PATH, {"m1", "m2"})
    starter = stub_source(
        source, regions, "toy", {"m1": "Add two numbers", "m2": "Sub"}
    )
    assert "return a + b" not in starter and "return a - b" not in starter
    assert '"""Add."""' in starter and "def add(a, b):" in starter
    assert (
        "    # TODO(m1): Add two numbers\n    raise NotImplementedError('toy m1: Add two numbers')"
        in starter
    )
    assert "NotImplementedError('toy m2: subtract')" in starter
    namespace: dict = {}
    exec(compile(starter, "starter", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="toy m1"):
        namespace["add"](1, 2)


def test_stub_only_selected_milestones_and_drop_markers():
    source = dedent(
        """
        def f():
            # BEGIN SOLUTION m1
            return 1
            # END SOLUTION

        def g():
            # BEGIN SOLUTION m2
            return 2
            # END SOLUTION
        """
    )
    regions = parse_regions(source, PATH, {"m1", "m2"})
    out = stub_source(source, regions, "toy", {}, stub={"m2"})
    assert "return 1" in out and "return 2" not in out
    assert "BEGIN SOLUTION" not in out and "END SOLUTION" not in out
    ast.parse(out)


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        ("def f():\n    # BEGIN SOLUTION m1\n    return 1\n", 2, "never closed"),
        (
            "def f():\n    # BEGIN SOLUTION m1\n    # BEGIN SOLUTION m2\n    pass\n    # END SOLUTION\n",
            3,
            "nested",
        ),
        ("def f():\n    return 1\n    # END SOLUTION\n", 3, "without a matching"),
        (
            "def f():\n    # BEGIN SOLUTION m7\n    pass\n    # END SOLUTION\n",
            2,
            "'m7'",
        ),
        (
            "def f():\n    # BEGIN SOLUTION m1\n    pass\n    # END SOLUTION m2\n",
            4,
            "must match",
        ),
        ("def f():\n    # begin solution m1\n    pass\n", 2, "malformed"),
        ("def f():\n    # BEGIN SOLUTION\n    pass\n", 2, "malformed"),
        ("# BEGIN SOLUTION m1\nX = 1\n# END SOLUTION\n", 1, "not inside a function"),
    ],
)
def test_bad_markers_name_file_and_line(source, line, words):
    with pytest.raises(RegionError) as info:
        parse_regions(source, PATH, {"m1", "m2"})
    assert str(info.value).startswith(f"{PATH}:{line}:")
    assert words in str(info.value)


def test_region_at_start_of_body_without_docstring():
    [region] = parse(
        "def f():\n    # BEGIN SOLUTION m1\n    return 1\n    # END SOLUTION\n"
    )
    assert region.function == "f"
