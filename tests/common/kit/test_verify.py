"""`labkit verify` accepts a sound lab and rejects a test that cannot fail."""

import io

import pytest
from rich.console import Console

from common.kit.verify import verify, verify_lab

# Each verify runs five pytest subprocesses; give a busy machine room.
pytestmark = pytest.mark.timeout(240)


def test_sound_lab_passes_every_check(kit):
    findings = verify_lab(kit, kit.lab("toy"))
    assert [(f.check, f.ok) for f in findings] == [
        ("regions", True),
        ("reference", True),
        ("m1 stubbed", True),
        ("m2 stubbed", True),
        ("m3 stubbed", True),
        ("starter", True),
    ]
    m2 = next(f for f in findings if f.check == "m2 stubbed")
    assert "1 given" in m2.detail


def test_a_test_that_passes_on_the_starter_fails_verify(kit):
    out = io.StringIO()
    ok = verify(kit, [kit.lab("weak")], console=Console(file=out, width=200))
    assert not ok
    assert "pass without the solution: test_module_has_double" in out.getvalue()


def test_a_broken_reference_fails_verify(kit):
    arith = kit.root / "fixturelabs" / "toy" / "arith.py"
    arith.write_text(arith.read_text().replace("return a + b", "return a * b"))
    findings = verify_lab(kit, kit.lab("toy"))
    reference = next(f for f in findings if f.check == "reference")
    assert not reference.ok and "test_add_small" in reference.detail


def test_a_starter_that_does_not_import_fails_verify(kit):
    init = kit.root / "fixturelabs" / "toy" / "__init__.py"
    init.write_text("from fixturelabs.toy.arith import missing_name\n")
    findings = verify_lab(kit, kit.lab("toy"), skip_reference=True)
    starter = next(f for f in findings if f.check == "starter")
    assert not starter.ok and "does not import" in starter.detail
