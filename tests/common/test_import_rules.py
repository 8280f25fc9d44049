"""The kit's import rules (``labs/README.md``), read from every import statement.

- A pipeline lab (orders 1-5) imports only earlier labs of the pipeline.
- Every other lab imports no lab, except the uses written down in ``EXCEPTIONS``.
- ``common/`` and ``infra/`` never import ``labs`` at module level (inside a
  function is allowed: the harness loads a lab's ``run`` by name).

Imports inside functions count for the labs: a lazy import is still a
dependency.
"""

from pathlib import Path

import pytest

from common.kit.imports import imports_of
from common.kit.manifest import Kit

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_ORDERS = range(1, 6)
# lab -> the labs it may import, and why
EXCEPTIONS: dict[str, set[str]] = {
    # puts an LRU cache in front of lab 1's online store interface
    "dsa_for_ml": {"feature_store"},
    # serve and train lab 7's GPT
    "llm_serving": {"transformer"},
    "distributed_training": {"transformer"},
}
KIT = Kit()


def allowed(lab_id: str) -> set[str]:
    lab = KIT.lab(lab_id)
    if lab.order in PIPELINE_ORDERS:
        return {
            other.id
            for other in KIT.labs
            if other.order in PIPELINE_ORDERS and other.order < lab.order
        }
    return EXCEPTIONS.get(lab_id, set())


@pytest.mark.parametrize("lab_id", [lab.id for lab in KIT.labs])
def test_a_lab_imports_only_the_labs_it_may(lab_id):
    lab = KIT.lab(lab_id)
    bad = []
    for path in sorted(lab.package_dir.rglob("*.py")):
        for imp in imports_of(path, package=f"labs.{lab_id}"):
            parts = imp.module.split(".")
            if parts[0] == "labs" and len(parts) > 1:
                other = parts[1]
                if other != lab_id and other not in allowed(lab_id):
                    bad.append(
                        f"{path.relative_to(ROOT)}:{imp.line} imports {imp.module}"
                    )
    assert not bad, (
        f"{lab_id} may import only {sorted(allowed(lab_id)) or 'no other lab'}:\n"
        + "\n".join(bad)
    )


def test_common_and_infra_never_import_labs_at_module_level():
    bad = [
        f"{imp.path.relative_to(ROOT)}:{imp.line} imports {imp.module}"
        for folder in ("common", "infra")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for imp in imports_of(path)
        if imp.top_level and imp.module.split(".")[0] == "labs"
    ]
    assert not bad, "\n".join(bad)


def test_the_rule_reader_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import os\n"
        "if True:\n    from labs.a import b\n"
        "def f():\n    from labs.c.d import e\n    import labs.f\n"
    )
    found = {(imp.module, imp.top_level) for imp in imports_of(module)}
    assert {
        ("os", True),
        ("labs.a", True),
        ("labs.c.d", False),
        ("labs.f", False),
    } <= found
