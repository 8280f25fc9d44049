"""m5 — a versioned model registry on the filesystem, with aliases and checksums.

    registry = ModelRegistry()                          # data/registry/ by default
    version = registry.register(result.predictor, metadata)   # "v0001"
    registry.promote(version, "production")
    model = registry.load("production")                 # verified, weights-only
    model.predict(frame)

A registry is a folder::

    <root>/versions/v0001/model.pt        the state_dict (tensors only)
    <root>/versions/v0001/metadata.json   features and their order, fill values,
                                          preprocessing, architecture, metrics,
                                          data fingerprint, seed, created time
    <root>/versions/v0001/checksums.json  sha256 of the two files above
    <root>/aliases/production             the version the alias points at

- **Versions are immutable.** A version is written in a temporary folder and
  renamed into place; the rename fails if another process took the number
  first, and the writer retries with the next one.
- **Loading never unpickles objects.** ``torch.load(..., weights_only=True)``
  accepts tensors and plain containers and refuses anything else, so a
  crafted ``model.pt`` cannot run code. The architecture is rebuilt from the
  metadata (JSON), not from a pickled class.
- **Tampering is refused.** Both files are checked against
  ``checksums.json`` before use. (A checksum catches corruption and edits; an
  attacker who can rewrite ``checksums.json`` too needs a signature instead.)
- **Aliases move atomically.** ``promote`` writes the alias to a temporary
  file and ``os.replace``-s it: a serving process that re-reads the alias
  sees the old version or the new one, never half a file. Rolling back is
  promoting the previous version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from common.paths import data_dir
from labs.training.features import Preprocessor
from labs.training.model import ClickModel
from labs.training.predictor import ClickPredictor

FORMAT = "labkit-click-model/1"
WEIGHTS, METADATA, CHECKSUMS = "model.pt", "metadata.json", "checksums.json"
REQUIRED = ("metrics", "data_fingerprint", "seed")  # what a caller must describe
_VERSION = re.compile(r"^v(\d{4,})$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class RegistryError(Exception):
    """An unknown version or alias, or a version that cannot be used."""


class IntegrityError(RegistryError):
    """A registered file no longer matches its sha256: it was changed or corrupted."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def architecture(model: ClickModel) -> dict[str, Any]:
    """What it takes to rebuild ``model`` (JSON; no pickled classes)."""
    linears = [m for m in model.mlp if isinstance(m, torch.nn.Linear)]
    n_in = linears[0].in_features
    embed_dim = model.user_embedding.embedding_dim
    return {
        "n_users": model.user_embedding.num_embeddings,
        "n_items": model.item_embedding.num_embeddings,
        "n_dense": n_in - (2 * embed_dim if model.interaction == "concat" else 0),
        "embed_dim": embed_dim,
        "hidden": [m.out_features for m in linears[:-1]],
        "interaction": model.interaction,
    }


class LoadedModel(ClickPredictor):
    """A registered model, ready to score: ``predict(frame) -> probabilities``.

    Attributes:
        version: the registry version it was loaded from (``"v0003"``).
        metadata: everything registered with it; ``metadata["features"]`` is
            the ordered ``"view:feature"`` list and ``metadata["defaults"]``
            the value each null feature becomes.
        registry_root: the registry's folder (to reopen it, e.g. to hot-swap).
    """

    def __init__(
        self,
        model: ClickModel,
        preprocessor: Preprocessor,
        version: str,
        metadata: dict[str, Any],
        registry_root: Path,
    ):
        super().__init__(model, preprocessor)
        self.version = version
        self.metadata = metadata
        self.registry_root = registry_root

    def __repr__(self) -> str:
        return (
            f"LoadedModel(version={self.version!r}, root={str(self.registry_root)!r})"
        )


class ModelRegistry:
    """Versioned click models in a folder (see the module doc).

    Args:
        root: the registry's folder; ``data/registry`` by default.
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else data_dir() / "registry"
        self.versions_dir = self.root / "versions"
        self.aliases_dir = self.root / "aliases"

    # --- reading ------------------------------------------------------------------
    def versions(self) -> list[str]:
        """Registered versions, oldest first."""
        if not self.versions_dir.exists():
            return []
        found = [p.name for p in self.versions_dir.iterdir() if _VERSION.match(p.name)]
        return sorted(found, key=lambda v: int(v[1:]))

    def aliases(self) -> dict[str, str]:
        """Every alias and the version it points at."""
        if not self.aliases_dir.exists():
            return {}
        return {
            p.name: p.read_text().strip()
            for p in sorted(self.aliases_dir.iterdir())
            if _ALIAS.match(p.name)
        }

    def resolve(self, ref: str = "production") -> str:
        """The version a reference names: a version (``"v0002"``) or an alias."""
        if _VERSION.match(ref):
            if not (self.versions_dir / ref).is_dir():
                raise RegistryError(
                    f"version {ref!r} is not in the registry at {self.root}; "
                    f"registered: {self.versions() or 'none'}."
                )
            return ref
        path = self.aliases_dir / ref
        if not _ALIAS.match(ref) or not path.exists():
            raise RegistryError(
                f"no version or alias {ref!r} in the registry at {self.root}; aliases: "
                f"{self.aliases() or 'none'}, versions: {self.versions() or 'none'}. "
                "Register a model and promote it first."
            )
        return self.resolve(path.read_text().strip())

    def metadata(self, ref: str = "production") -> dict[str, Any]:
        """A version's metadata, checked against its sha256."""
        version = self.resolve(ref)
        folder = self.versions_dir / version
        self._verify(folder, version)
        metadata: dict[str, Any] = json.loads((folder / METADATA).read_text())
        return metadata

    def listing(self) -> list[dict[str, Any]]:
        """One row per version: created, aliases, test AUC, fingerprint (for pages)."""
        by_version: dict[str, list[str]] = {}
        for alias, version in self.aliases().items():
            by_version.setdefault(version, []).append(alias)
        rows = []
        for version in self.versions():
            meta = json.loads((self.versions_dir / version / METADATA).read_text())
            test = meta.get("metrics", {}).get("test", {})
            rows.append(
                {
                    "version": version,
                    "created": meta.get("created", "")[:19],
                    "aliases": ", ".join(by_version.get(version, [])),
                    "preset": meta.get("preset", ""),
                    "test AUC": test.get("auc"),
                    "data fingerprint": str(meta.get("data_fingerprint", ""))[:12],
                }
            )
        return rows

    # --- m5 -----------------------------------------------------------------------
    def register(self, model: ClickPredictor, metadata: Mapping[str, Any]) -> str:
        """Store ``model`` as a new immutable version; return its name (``"v0001"``).

        Args:
            model: a trained :class:`ClickPredictor` (network + preprocessing).
            metadata: JSON-able facts about it; must hold ``metrics``,
                ``data_fingerprint`` and ``seed``. The registry adds
                ``version``, ``created`` (UTC), ``features``, ``defaults``,
                ``preprocessing``, ``architecture``, ``format`` and ``torch``.
        """
        missing = [k for k in REQUIRED if k not in metadata]
        if missing:
            raise ValueError(
                f"metadata lacks {missing}; describe the model with at least {list(REQUIRED)}."
            )
        prep = model.preprocessor
        full = {
            **metadata,
            "format": FORMAT,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(),
            "features": list(prep.features),
            "defaults": dict(zip(prep.features, prep.fill, strict=True)),
            "preprocessing": prep.to_dict(),
            "architecture": architecture(model.model),
            "torch": torch.__version__,
        }
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        # BEGIN SOLUTION m5: write model.pt (state_dict), metadata.json and checksums.json (sha256 of both) in a temp folder, then rename it to the next free version (retry if another writer took it)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.versions_dir))
        try:
            torch.save(model.model.state_dict(), staging / WEIGHTS)
            while True:
                existing = self.versions()
                number = int(existing[-1][1:]) + 1 if existing else 1
                version = f"v{number:04d}"
                full["version"] = version
                (staging / METADATA).write_text(json.dumps(full, indent=2) + "\n")
                checksums = {
                    name: sha256_file(staging / name) for name in (WEIGHTS, METADATA)
                }
                (staging / CHECKSUMS).write_text(json.dumps(checksums, indent=2) + "\n")
                try:
                    staging.rename(
                        self.versions_dir / version
                    )  # atomic; fails if taken
                except OSError:
                    if (self.versions_dir / version).exists():
                        continue  # another writer won this number: take the next
                    raise
                return version
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        # END SOLUTION

    def _verify(self, folder: Path, version: str) -> None:
        """Raise :class:`IntegrityError` unless both files match ``checksums.json``."""
        # BEGIN SOLUTION m5: compare the sha256 of model.pt and metadata.json with checksums.json; any difference (or a missing file) is an IntegrityError naming the file
        try:
            expected = json.loads((folder / CHECKSUMS).read_text())
        except (OSError, ValueError) as exc:
            raise IntegrityError(
                f"version {version} in {self.root} has no readable {CHECKSUMS} ({exc}); "
                "it cannot be trusted: register the model again."
            ) from None
        for name in (WEIGHTS, METADATA):
            path = folder / name
            if not path.exists():
                raise IntegrityError(f"version {version} in {self.root} lacks {name}.")
            actual = sha256_file(path)
            if actual != expected.get(name):
                raise IntegrityError(
                    f"{name} of version {version} in {self.root} does not match its "
                    f"sha256 (registered {str(expected.get(name))[:16]}…, now "
                    f"{actual[:16]}…): it was modified after registration. Refusing to "
                    "load it; restore the file or register the model again."
                )
        # END SOLUTION

    def load(self, ref: str = "production") -> LoadedModel:
        """The model a version or alias names, verified and rebuilt weights-only."""
        version = self.resolve(ref)
        folder = self.versions_dir / version
        metadata = self.metadata(version)  # verifies both checksums
        # BEGIN SOLUTION m5: torch.load(model.pt, weights_only=True) (never unpickle objects; a failure is a RegistryError); model = ClickModel(**metadata["architecture"]) with the state_dict loaded; prep = Preprocessor.from_dict(metadata["preprocessing"])
        try:
            state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError and friends: not plain tensors
            raise RegistryError(
                f"{WEIGHTS} of version {version} holds something other than tensors "
                f"and was refused by the weights-only loader: {exc}"
            ) from None
        model = ClickModel(**metadata["architecture"])
        model.load_state_dict(state)
        prep = Preprocessor.from_dict(metadata["preprocessing"])
        # END SOLUTION
        return LoadedModel(model, prep, version, metadata, self.root)

    def promote(self, version: str, alias: str = "production") -> None:
        """Point ``alias`` at ``version`` (atomically; replaces the old target)."""
        if not _ALIAS.match(alias) or _VERSION.match(alias):
            raise ValueError(
                f"alias {alias!r} must be a name like 'production' or 'staging' "
                "(letters, digits, _ and -), not a version."
            )
        version = self.resolve(version)
        self._verify(self.versions_dir / version, version)  # never promote a broken one
        self.aliases_dir.mkdir(parents=True, exist_ok=True)
        # BEGIN SOLUTION m5: write the version to a temp file in aliases/ and os.replace it over the alias, so readers see the old or the new target, never a partial file
        fd, tmp = tempfile.mkstemp(prefix=f".{alias}-", dir=self.aliases_dir)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(version + "\n")
            os.replace(tmp, self.aliases_dir / alias)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # END SOLUTION
