"""The served model: lab 7's character GPT, trained once per config and code, then reused.

    from labs.llm_serving.checkpoint import ensure_model
    served = ensure_model("tiny")            # trains in seconds the first time
    served.model, served.tokenizer, served.device

Every test, server and run needs a *trained* model, and none may download
one. :func:`ensure_model` trains lab 7's GPT on lab 7's corpus (the Python
Language Reference topics that ship with Python) at a small size, saves it
under ``data/llm_serving/<preset>-<fingerprint>/`` and loads it from there
afterwards. The fingerprint covers everything that shapes the weights: the
preset, lab 7's model and training code, and the corpus text, so a changed
config or a different Python trains anew instead of serving a stale model.
A file lock serialises concurrent callers (a test process and the server it
started both ask for the model).

The device is chosen once, when the model is loaded: CUDA where a GPU is
present, else the CPU (what the tests use). Nothing else in the engine
names a device: every tensor is made ``like`` the model's weights.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import labs.transformer as transformer_lab
from common.paths import data_dir
from labs.transformer.corpus import CharTokenizer, load_corpus, train_val_split
from labs.transformer.model import GPT, GPTConfig
from labs.transformer.train import TrainConfig, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelPreset:
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int  # the context window: prompt + output must fit in it
    train: TrainConfig


PRESETS = {
    # tests and the demo: trains in about ten seconds on one core
    "tiny": ModelPreset(
        n_layer=2,
        n_head=4,
        n_embd=64,
        block_size=128,
        train=TrainConfig(
            steps=400,
            batch_size=16,
            block_size=64,
            learning_rate=1e-2,
            warmup_steps=30,
            eval_every=400,
            eval_tokens=20_000,
        ),
    ),
    # runs and benches: a wider model and a longer window (item descriptions)
    "small": ModelPreset(
        n_layer=2,
        n_head=4,
        n_embd=96,
        block_size=256,
        train=TrainConfig(
            steps=500,
            batch_size=16,
            block_size=64,
            learning_rate=1e-2,
            warmup_steps=30,
            eval_every=500,
            eval_tokens=20_000,
        ),
    ),
}
SEED = 0
# Lab 7's files whose code shapes the trained weights.
_MODEL_CODE = ("attention.py", "layers.py", "model.py", "train.py", "corpus.py")


def pick_device(name: str = "auto") -> torch.device:
    """``cuda`` when asked for or available (``auto``), else ``cpu``."""
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {name!r}.")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was asked for but torch sees no GPU; use 'auto' or 'cpu'."
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@dataclass
class ServedModel:
    """A trained model, its tokenizer and where it lives."""

    model: GPT
    tokenizer: CharTokenizer
    fingerprint: str
    val_loss: float
    train_s: float  # how long training took when it was trained (0 if unknown)
    path: Path

    @property
    def device(self) -> torch.device:
        return self.model.wte.weight.device

    @property
    def config(self) -> GPTConfig:
        return self.model.config


def model_fingerprint(preset: str, text: str) -> str:
    """A hash of what shapes the weights: preset, lab 7's code and the corpus."""
    spec = PRESETS[preset]
    digest = hashlib.sha256()
    digest.update(json.dumps(asdict(spec), sort_keys=True).encode())
    digest.update(str(SEED).encode())
    folder = Path(transformer_lab.__file__).parent
    for name in _MODEL_CODE:
        digest.update(name.encode())
        digest.update((folder / name).read_bytes())
    digest.update(hashlib.sha256(text.encode()).digest())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _train(
    preset: str, text: str, tokenizer: CharTokenizer
) -> tuple[GPT, float, float]:
    spec = PRESETS[preset]
    train_ids, val_ids = train_val_split(tokenizer.encode(text))
    torch.manual_seed(SEED)
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=spec.block_size,
        n_layer=spec.n_layer,
        n_head=spec.n_head,
        n_embd=spec.n_embd,
    )
    model = GPT(config)
    started = time.perf_counter()
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: more threads cost more than they save
    try:
        history = train(model, train_ids, val_ids, spec.train)
    finally:
        torch.set_num_threads(before)
    return model, history.val_loss[-1], time.perf_counter() - started


def ensure_model(
    preset: str = "tiny", *, device: str = "auto", root: Path | None = None
) -> ServedModel:
    """The trained model of ``preset``: loaded if saved, else trained and saved.

    Args:
        preset: ``tiny`` (tests, demo) or ``small`` (runs, benches).
        device: ``auto`` (CUDA if present, else CPU), ``cpu`` or ``cuda``.
        root: where models are kept; ``data/llm_serving`` by default.

    Returns:
        The :class:`ServedModel`, in eval mode, on the chosen device.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    root = root if root is not None else data_dir() / "llm_serving"
    text = load_corpus()
    tokenizer = CharTokenizer.from_text(text)
    fingerprint = model_fingerprint(preset, text)
    folder = root / f"{preset}-{fingerprint}"
    with _locked(root):
        meta_path = folder / "meta.json"
        if not meta_path.exists():
            log.info("training the %s model (%s) once", preset, fingerprint)
            model, val_loss, train_s = _train(preset, text, tokenizer)
            folder.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), folder / "model.pt")
            meta = {
                "preset": preset,
                "fingerprint": fingerprint,
                "config": asdict(model.config),
                "chars": list(tokenizer.chars),
                "val_loss": val_loss,
                "train_s": train_s,
            }
            tmp = meta_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(meta, indent=1))
            tmp.replace(meta_path)  # the meta file last: its presence means complete
        meta = json.loads(meta_path.read_text())
    model = GPT(GPTConfig(**meta["config"]))
    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval().requires_grad_(False)
    model.to(pick_device(device))
    return ServedModel(
        model=model,
        tokenizer=CharTokenizer(tuple(meta["chars"])),
        fingerprint=fingerprint,
        val_loss=float(meta["val_loss"]),
        train_s=float(meta["train_s"]),
        path=folder,
    )
