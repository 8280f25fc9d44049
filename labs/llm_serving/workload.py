"""ShopStream's two text workloads, drawn from stated distributions.

    requests = draw_requests(200, context_window=128, seed=0)
    requests[0]   # {"prompt": "...", "max_tokens": 9, "temperature": 0.8, "seed": 0}

ShopStream's search box autocompletes queries and its catalogue writes item
descriptions, both with the same model:

===============  =====  ======================  =====================================
workload         share  prompt (characters)     output (tokens = characters)
===============  =====  ======================  =====================================
autocomplete     70 %   uniform 8 .. 32         uniform 4 .. 16
description      30 %   uniform 16 .. 40        uniform 3/8 .. 5/8 of the context window
===============  =====  ======================  =====================================

(with a 128-character window a description is 48 to 80 tokens; with 256,
96 to 160). Short and long answers mixed in one queue are exactly what
makes static batching waste its batch: a batch runs to its longest member.
Prompts are cut from the corpus the model was trained on (lab 7's), so
every character is in the vocabulary; each request samples at temperature
0.8 with its own seed, and has no stop string, so it generates exactly
``max_tokens`` tokens and runs differ only in timing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from labs.transformer.corpus import load_corpus


@dataclass(frozen=True)
class WorkloadSpec:
    autocomplete_share: float = 0.7
    autocomplete_prompt: tuple[int, int] = (8, 32)  # characters, inclusive
    autocomplete_output: tuple[int, int] = (4, 16)  # tokens, inclusive
    description_prompt: tuple[int, int] = (16, 40)
    description_output: tuple[float, float] = (3 / 8, 5 / 8)  # of the context window
    temperature: float = 0.8


def output_range(spec: WorkloadSpec, context_window: int) -> tuple[int, int]:
    """The description's output lengths for a context window."""
    low, high = spec.description_output
    return int(low * context_window), int(high * context_window)


def draw_requests(
    n: int, *, context_window: int, seed: int = 0, spec: WorkloadSpec | None = None
) -> list[dict[str, Any]]:
    """``n`` request bodies for ``POST /generate`` (add ``"stream": True`` to stream)."""
    spec = spec or WorkloadSpec()
    rng = random.Random(seed)
    text = load_corpus()
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) >= 48]
    bodies = []
    for i in range(n):
        line = rng.choice(lines)
        if rng.random() < spec.autocomplete_share:
            prompt_len = rng.randint(*spec.autocomplete_prompt)
            max_tokens = rng.randint(*spec.autocomplete_output)
        else:
            prompt_len = rng.randint(*spec.description_prompt)
            max_tokens = rng.randint(*output_range(spec, context_window))
        start = rng.randint(0, len(line) - prompt_len)
        prompt = line[start : start + prompt_len]
        max_tokens = min(max_tokens, context_window - len(prompt))
        bodies.append(
            {
                "prompt": prompt,
                "max_tokens": max_tokens,
                "temperature": spec.temperature,
                "seed": seed * 1_000_003 + i,
            }
        )
    return bodies


def mean_output_tokens(bodies: list[dict[str, Any]]) -> float:
    return sum(b["max_tokens"] for b in bodies) / max(1, len(bodies))
