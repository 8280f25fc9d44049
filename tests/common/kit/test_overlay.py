"""The overlay serves the checked lab from the workspace and nothing else."""

import json
import subprocess
import sys

from common.kit import workspace
from common.kit.overlay import overlay_env

PROBE = (
    "import json, fixturelabs.toy.arith as a, fixturelabs.weak.double as d\n"
    "print(json.dumps([a.__file__, d.__file__]))"
)


def probe(kit, mapping):
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=kit.root,
        env=overlay_env(mapping),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_overlay_takes_only_the_checked_lab_from_the_workspace(kit):
    folder, _ = workspace.start(kit, kit.lab("toy"))
    workspace.start(kit, kit.lab("weak"))
    toy, weak = probe(kit, {"fixturelabs.toy": folder})
    assert toy == str(folder / "arith.py")
    assert weak == str(kit.root / "fixturelabs" / "weak" / "double.py")


def test_without_overlay_the_reference_is_imported(kit):
    workspace.start(kit, kit.lab("toy"))
    toy, _ = probe(kit, {})
    assert toy == str(kit.root / "fixturelabs" / "toy" / "arith.py")
