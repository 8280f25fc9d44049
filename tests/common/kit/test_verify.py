"""`labkit verify` accepts a sound lab and rejects every way a lab can mislead.

A test that cannot fail, a broken reference, a starter that does not import,
a known wrong answer the tests miss, a malformed catalogue and a hint whose
snippet is not the reference's each fail verify; an unchanged lab is not
verified twice.
"""

import io

import pytest
from rich.console import Console

from common.kit import verify as verify_module
from common.kit.manifest import Kit
from common.kit.verify import verify, verify_lab

# Each verify runs several pytest subprocesses; give a busy machine room.
pytestmark = pytest.mark.timeout(240)


def _verify(kit, lab_id, **options):
    out = io.StringIO()
    ok = verify(kit, [kit.lab(lab_id)], console=Console(file=out, width=250), **options)
    return ok, out.getvalue()


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_sound_lab_passes_every_check(kit):
    findings = verify_lab(kit, kit.lab("toy"))
    assert [(f.check, f.ok) for f in findings] == [
        ("regions", True),
        ("hints", True),
        ("reference", True),
        ("m1 stubbed", True),
        ("m2 stubbed", True),
        ("m3 stubbed", True),
        ("wrong m1/subtracts", True),
        ("wrong m2/sample-mean-denominator", True),
        ("starter", True),
    ]
    m2 = next(f for f in findings if f.check == "m2 stubbed")
    assert "1 given" in m2.detail
    wrong = next(f for f in findings if f.check.startswith("wrong m2"))
    assert wrong.detail == "caught by test_mean"


def test_bytecode_is_cached_in_the_kit_and_the_lab_copies_go_with_the_scratch(
    kit, monkeypatch, tmp_path
):
    scratch_parent = tmp_path / "scratch"
    scratch_parent.mkdir()
    monkeypatch.setattr(verify_module.tempfile, "tempdir", str(scratch_parent))
    ok, out = _verify(kit, "toy", skip_reference=True)
    assert ok, out
    cache = kit.root / ".labkit-cache" / "pycache"
    kept = [p.relative_to(cache) for p in cache.rglob("*.pyc")]
    # The fixture kit's tests, rewritten by pytest, are kept for the next verify...
    assert any(p.name.startswith("check_m1_add") for p in kept), kept[:5]
    # ...but nothing of verify's copies of the lab, or of its scratch folder.
    assert not list(scratch_parent.iterdir()), list(scratch_parent.iterdir())
    mirrored = cache / scratch_parent.relative_to(scratch_parent.anchor)
    assert not any(mirrored.rglob("*.pyc")), sorted(mirrored.rglob("*.pyc"))[:5]


def test_a_test_that_passes_on_the_starter_fails_verify(kit):
    ok, out = _verify(kit, "weak")
    assert not ok
    assert "pass without the solution: test_module_has_double" in out
    *_, named, count = out.strip().splitlines()  # a log's tail says what failed
    assert named.startswith("✗ weak ") and "test_module_has_double" in named
    assert "1 violation(s)" in count


def test_a_broken_reference_fails_verify(kit):
    _edit(kit.root / "fixturelabs" / "toy" / "arith.py", "return a + b", "return a * b")
    findings = verify_lab(kit, kit.lab("toy"))
    reference = next(f for f in findings if f.check == "reference")
    assert not reference.ok and "test_add_small" in reference.detail


def test_a_starter_that_does_not_import_fails_verify(kit):
    init = kit.root / "fixturelabs" / "toy" / "__init__.py"
    init.write_text("from fixturelabs.toy.arith import missing_name\n")
    findings = verify_lab(kit, kit.lab("toy"), skip_reference=True)
    starter = next(f for f in findings if f.check == "starter")
    assert not starter.ok and "does not import" in starter.detail


@pytest.mark.parametrize("codes", [(1, 0), (1, 1)])
def test_a_collect_run_that_ends_oddly_is_tried_again_and_named(
    kit, monkeypatch, codes
):
    """Exit code 1 with no collection error is the harness's: once more, then its code."""
    from common.kit import verify_checks
    from common.kit.runner import RunResult

    real, seen = verify_checks.run_pytest, []

    def flaky(*args, **kwargs):
        run = real(*args, **kwargs)
        code = codes[len(seen)]
        seen.append(code)
        return RunResult(run.outcomes, code if code else run.returncode, run.output)

    monkeypatch.setattr(verify_checks, "run_pytest", flaky)
    finding = verify_checks.check_starter(kit, kit.lab("toy"), kit.root / "scratch")
    assert len(seen) == 2
    if codes[1] == 0:
        assert finding.ok and "first ended with exit code 1" in finding.detail
    else:
        assert not finding.ok and "pytest exit code 1" in finding.detail


def test_a_wrong_answer_the_tests_miss_fails_verify(kit):
    # Rounding to six places stays within pytest.approx: both tests miss it.
    with (kit.root / "tests" / "toy" / "wrong" / "m2.toml").open("a") as f:
        f.write(
            '\n[[wrong]]\nid = "rounds-the-mean"\n'
            'mistake = "Rounds the mean to six places, losing precision."\n'
            'region = "arith:mean"\n'
            'body = """\nreturn round(total(values) / len(values), 6)\n"""\n'
        )
    ok, out = _verify(kit, "toy", skip_reference=True)
    assert not ok
    assert "1/2 caught" in out
    assert "rounds-the-mean passes every test it was run against" in out


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('region = "arith:nope"', "no region 'arith:nope' in lab toy"),
        ('region = "arith:mean"', "belongs to m2, not m1; move the entry to m2.toml"),
        (
            'region = "arith:add"\ncaught_by = ["test_gone"]',
            "caught_by names 'test_gone'",
        ),
    ],
)
def test_a_malformed_catalogue_fails_verify_with_its_reason(kit, entry, message):
    path = kit.root / "tests" / "toy" / "wrong" / "m1.toml"
    path.write_text(
        f"[[wrong]]\nid = \"bad\"\nmistake = \"x\"\n{entry}\nbody = '''\nreturn 0\n'''\n"
    )
    ok, out = _verify(kit, "toy", skip_reference=True)
    assert not ok
    assert message in " ".join(out.split())


def test_a_wrong_answer_equal_to_the_reference_is_refused(kit):
    path = kit.root / "tests" / "toy" / "wrong" / "m1.toml"
    _edit(path, "return a - b", "return  a + b")
    ok, out = _verify(kit, "toy", skip_reference=True)
    assert not ok and "is the reference's own code" in " ".join(out.split())


def test_a_hint_snippet_that_is_not_the_reference_fails_verify(kit):
    manifest = kit.root / "fixturelabs" / "toy" / "lab.toml"
    _edit(
        manifest,
        '"Sum, then divide."',
        '"Write `return total(values) / len(values) - 1`."',
    )
    ok, out = _verify(kit, "toy", skip_reference=True)
    assert not ok
    assert (
        "m2 hint 1: `return total(values) / len(values) - 1` is not in the reference"
        in (" ".join(out.split()))
    )
    # The same snippet marked as pseudo-code, and one with `...`, are accepted.
    _edit(
        manifest,
        "`return total(values) / len(values) - 1`",
        "`~x / n - 1` or `total(...) / len(values)`",
    )
    fresh = Kit(root=kit.root, package=kit.package, workspace=kit.workspace)
    ok, out = _verify(fresh, "toy", skip_reference=True)
    assert ok, out


def test_an_unchanged_lab_is_not_verified_twice_and_any_edit_reverifies(kit):
    ok, first = _verify(kit, "toy", skip_reference=True, jobs=2)
    assert ok and "not verified again" not in first
    ok, second = _verify(kit, "toy", skip_reference=True)
    assert ok and "toy: unchanged since its clean run" in second
    assert "3/3" not in second.split("labkit verify")[0]  # no check ran
    # A test edit invalidates the cache, and the edit's failure is reported.
    _edit(
        kit.root / "tests" / "toy" / "check_m1_add.py",
        "assert add(-2, 2) == 0",
        "assert callable(add)",
    )
    ok, third = _verify(kit, "toy", skip_reference=True)
    assert not ok and "not verified again" not in third
    assert "pass without the solution: test_add_negative" in third


def test_a_failure_any_code_would_get_is_no_proof_for_a_stub_or_a_wrong_answer(kit):
    """A test failing for want of a fixture (a plugin the run did not load) proves nothing."""
    tests = kit.root / "tests" / "toy" / "check_m1_add.py"
    _edit(
        tests, "def test_add_small():", "def test_add_small(fixture_nobody_provides):"
    )
    findings = {
        f.check: f for f in verify_lab(kit, kit.lab("toy"), skip_reference=True)
    }
    for check in ("m1 stubbed", "wrong m1/subtracts"):
        assert not findings[check].ok, findings[check]
        assert "cannot judge: test_add_small failed for want of a fixture" in (
            findings[check].detail
        )
    assert findings["m2 stubbed"].ok  # the other milestones are judged as before


def test_a_scratch_folder_still_written_to_is_retried_then_named(tmp_path, monkeypatch):
    monkeypatch.setattr(verify_module.time, "sleep", lambda s: None)
    out = io.StringIO()
    console = Console(file=out, width=200)
    gone = tmp_path / "gone"
    (gone / "tmp").mkdir(parents=True)
    verify_module._remove_scratch(gone, console)
    assert not gone.exists() and out.getvalue() == ""

    stuck = tmp_path / "stuck"
    (stuck / "tmp").mkdir(parents=True)
    tries: list[str] = []
    monkeypatch.setattr(
        verify_module.shutil, "rmtree", lambda path, ignore_errors: tries.append(path)
    )
    verify_module._remove_scratch(stuck, console)  # warns, never raises
    assert len(tries) == 3
    assert f"{stuck} is left behind" in out.getvalue()
