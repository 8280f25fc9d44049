import shutil
from pathlib import Path

import pytest

from common.kit.manifest import Kit

FIXTURE = Path(__file__).parent / "fixture_kit"
# The fixture kit's tests run only inside the harness, against a copy.
collect_ignore = ["fixture_kit"]


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    """A private copy of the fixture kit (labs `toy` and `weak`) and an empty workspace."""
    root = tmp_path / "kit"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return Kit(root=root, package="fixturelabs", workspace=tmp_path / "workspace")
