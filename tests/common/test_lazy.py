"""``lazy_exports``: a name's submodule is imported on first use, not before."""

import sys

import pytest


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "lazypkg"
    root.mkdir()
    (root / "__init__.py").write_text(
        "from common.lazy import lazy_exports\n"
        "__getattr__, __all__ = lazy_exports(\n"
        "    __name__, globals(), {'heavy': ('answer',), 'light': ('name',)}\n"
        ")\n"
    )
    (root / "heavy.py").write_text("answer = 42\n")
    (root / "light.py").write_text("name = 'light'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "lazypkg"
    for module in [m for m in sys.modules if m.split(".")[0] == "lazypkg"]:
        del sys.modules[module]


def test_imports_only_the_submodule_asked_for(package):
    import lazypkg

    assert lazypkg.__all__ == ["answer", "name"]
    assert "lazypkg.heavy" not in sys.modules
    assert lazypkg.name == "light"
    assert "lazypkg.heavy" not in sys.modules
    from lazypkg import answer

    assert answer == 42 and "lazypkg.heavy" in sys.modules
    assert vars(lazypkg)["answer"] == 42  # cached: later lookups are plain reads


def test_unknown_name_is_an_attribute_error(package):
    import lazypkg

    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        _ = lazypkg.missing


def test_a_name_exported_twice_is_refused():
    from common.lazy import lazy_exports

    with pytest.raises(ValueError, match="'x' is exported by both 'a' and 'b'"):
        lazy_exports("pkg", {}, {"a": ("x",), "b": ("x",)})
