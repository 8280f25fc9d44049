"""The training text, a character tokenizer, the train/validation split and batches.

**The corpus** is the text of the *Python Language Reference* topics that
CPython installs with its standard library (``pydoc_data/topics.py``, the
pages ``help("assert")`` shows): about 465 thousand characters of English
prose mixed with grammar rules and code, present wherever Python is, so no
download. It is © the Python Software Foundation under the PSF License
Agreement (Python's own licence); the lab reads it from the installed file
and ships no copy. Any other UTF-8 text file works too: ``load_corpus(path)``.

The text varies a little between Python versions, so losses are comparable
within one Python version (the results page records it).

Check it: ``labkit check transformer`` (milestone m3).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor


def load_corpus(path: str | Path | None = None) -> str:
    """The Python Language Reference topics as one string, or the text at ``path``.

    Topics are joined in sorted order, so the text is the same on every run.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"no corpus file at {path}; pass the path of a UTF-8 text file, or "
                "no path to use the Python Language Reference topics."
            )
        text = path.read_text(encoding="utf-8")
    else:
        try:
            from pydoc_data.topics import topics
        except ImportError as exc:  # pragma: no cover - stripped Python builds
            raise RuntimeError(
                "this Python has no pydoc_data module (some minimal builds strip "
                "it); pass load_corpus(path) a text file instead."
            ) from exc
        text = "\n".join(topics[name] for name in sorted(topics))
    if len(text) < 1000:
        raise ValueError(
            f"the corpus has only {len(text)} characters; a language model needs "
            "at least a few thousand."
        )
    return text


def corpus_source(path: str | Path | None = None) -> str:
    """A one-line description of where the text came from, for results pages."""
    if path is not None:
        return f"file {path}"
    return f"Python {platform.python_version()} pydoc_data.topics (PSF License)"


@dataclass(frozen=True)
class CharTokenizer:
    """Characters to ids and back; the vocabulary is the text's distinct characters."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(tuple(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> Tensor:
        """``text`` as a 1-D ``torch.long`` tensor of ids."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - index.keys())
        if unknown:
            raise ValueError(
                f"characters {unknown[:10]} are not in the vocabulary of "
                f"{self.vocab_size} characters; build the tokenizer from a text "
                "that contains them."
            )
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, ids: Tensor | list[int]) -> str:
        values = ids.tolist() if isinstance(ids, Tensor) else ids
        return "".join(self.chars[i] for i in values)


def train_val_split(ids: Tensor, val_fraction: float = 0.1) -> tuple[Tensor, Tensor]:
    """The first ``1 − val_fraction`` of the text for training, the rest for validation.

    A contiguous tail, not random windows: random windows would overlap the
    training windows and leak text into the validation loss.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}.")
    n_train = int(len(ids) * (1.0 - val_fraction))
    return ids[:n_train], ids[n_train:]


def get_batch(
    ids: Tensor, batch_size: int, block_size: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """``batch_size`` random windows of ``block_size`` tokens and their targets.

    Returns:
        ``(x, y)``, each ``(B, T)``, with ``y[b, t] = x[b, t + 1]`` inside the
        window and ``y[b, T − 1]`` the token just after it: every position
        is trained to predict the next character.
    """
    if len(ids) < block_size + 1:
        raise ValueError(
            f"the text has {len(ids)} tokens, fewer than block_size + 1 = "
            f"{block_size + 1}; use a shorter block_size or a longer text."
        )
    # BEGIN SOLUTION m3: pick random start offsets; x is the window, y the same window shifted one token to the right
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)
    x = torch.stack([ids[s : s + block_size] for s in starts.tolist()])  # (B, T)
    y = torch.stack(
        [ids[s + 1 : s + 1 + block_size] for s in starts.tolist()]
    )  # (B, T)
    return x, y
    # END SOLUTION
