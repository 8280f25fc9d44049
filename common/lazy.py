"""Package attributes imported on first use, not when the package is imported.

    # labs/<lab>/__init__.py
    from common.lazy import lazy_exports

    __getattr__, __all__ = lazy_exports(__name__, globals(), {
        "registry": ("ModelRegistry", "LoadedModel"),
        "train": ("fit",),
    })

``from labs.training import ModelRegistry`` then imports only
``labs.training.registry``. Why bother: every Ray worker, scoring actor and
uvicorn process that touches one name of a lab imports the lab's package,
and should not pay seconds of start-up for scikit-learn, Ray Tune or pandas
it never uses. The first lookup caches the value in the package's globals,
so later lookups are plain attribute reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any


def lazy_exports(
    package: str,
    namespace: MutableMapping[str, Any],
    exports: Mapping[str, Iterable[str]],
) -> tuple[Callable[[str], Any], list[str]]:
    """A module ``__getattr__`` (PEP 562) and ``__all__`` for ``exports``.

    Args:
        package: the package's ``__name__`` (it resolves through the
            workspace overlay like any import).
        namespace: the package's ``globals()``, where resolved names are cached.
        exports: submodule name → the public names it defines.

    Raises:
        ValueError: when two submodules export the same name.
    """
    module_of: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if name in module_of:
                raise ValueError(
                    f"{package}: {name!r} is exported by both {module_of[name]!r} "
                    f"and {module!r}; keep one."
                )
            module_of[name] = module

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # later lookups skip this function
        return value

    return __getattr__, sorted(module_of)
