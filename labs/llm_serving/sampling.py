"""Sampling: from the logits of the last position to one next token.

    params = SamplingParams(max_tokens=40, temperature=0.8, top_k=20, top_p=0.9, seed=7)
    probs = token_distribution(logits, params)       # (V,), sums to 1
    token = sample_token(logits, params, generator)  # an int in [0, V)

Three knobs reshape the model's distribution, applied in this order (the
order of Hugging Face's and vLLM's samplers, and the order the tests check):

1. **temperature** ``τ`` divides the *logits*: ``p_i ∝ exp(z_i / τ)``.
   ``τ < 1`` sharpens, ``τ > 1`` flattens; ``τ = 0`` means greedy (argmax).
2. **top-k** keeps the ``k`` largest logits (exactly ``k``, ties broken by
   ``torch.topk``) and renormalises.
3. **top-p** (nucleus) sorts the remaining tokens by probability, largest
   first (ties keep the lower id first), and keeps the *smallest* prefix
   whose mass reaches ``p``: a token is kept when the mass *before* it is
   ``< p``, so the token whose probability carries the total across ``p``
   is kept. ``p = 1`` keeps everything.

**Seeded determinism.** Each request owns a ``torch.Generator`` seeded from
its ``seed``: the same request with the same seed gives the same tokens
whatever other requests run beside it, because no draw touches the global
random state.

Check it: ``labkit check llm_serving`` (milestone m1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

MAX_STOP_STRINGS = 4  # stop strings one request may give


@dataclass(frozen=True)
class SamplingParams:
    """How one request is decoded; validated on construction."""

    max_tokens: int = 32  # new tokens at most
    temperature: float = 1.0  # 0 = greedy
    top_k: int | None = None  # None = every token
    top_p: float = 1.0  # 1 = no nucleus cut
    seed: int | None = None  # None = a fresh seed per request
    stop: tuple[str, ...] = field(default=())  # end when the text ends with one

    def __post_init__(self) -> None:
        if not self.max_tokens >= 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}.")
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise ValueError(
                f"temperature must be a finite number >= 0 (0 = greedy), got "
                f"{self.temperature}."
            )
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {self.top_k}.")
        if not (math.isfinite(self.top_p) and 0 < self.top_p <= 1):
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}.")
        if len(self.stop) > MAX_STOP_STRINGS or any(not s for s in self.stop):
            raise ValueError(
                f"stop takes at most {MAX_STOP_STRINGS} non-empty strings, got "
                f"{list(self.stop)}."
            )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    """A request's own random stream, on the device its logits live on."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()  # a fresh, unpredictable seed
    else:
        generator.manual_seed(seed)
    return generator


def token_distribution(logits: Tensor, params: SamplingParams) -> Tensor:
    """The distribution a non-greedy request samples from.

    Args:
        logits: ``(V,)`` next-token logits of one sequence.
        params: its temperature (``> 0`` here), top-k and top-p.

    Returns:
        ``(V,)`` probabilities summing to 1, zero outside the top-k and the
        nucleus; computed in the logits' dtype.
    """
    if logits.dim() != 1:
        raise ValueError(f"logits must be (V,), got shape {tuple(logits.shape)}.")
    if params.greedy:
        raise ValueError("a greedy request (temperature 0) has no distribution.")
    # BEGIN SOLUTION m1: divide the logits by the temperature, keep the top k, softmax, then cut to the nucleus (keep a token while the mass before it is < top_p) and renormalise
    scaled = logits / params.temperature  # (V,)
    if params.top_k is not None and params.top_k < scaled.shape[0]:
        values, index = torch.topk(scaled, params.top_k)  # (k,)
        scaled = torch.full_like(scaled, float("-inf")).scatter(0, index, values)
    probs = torch.softmax(scaled, dim=-1)  # (V,)
    if params.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True, stable=True)  # (V,)
        mass_before = torch.cumsum(sorted_probs, dim=0) - sorted_probs  # (V,)
        keep_sorted = mass_before < params.top_p  # the crossing token stays
        keep = torch.zeros_like(keep_sorted).scatter(0, order, keep_sorted)
        probs = torch.where(keep, probs, torch.zeros_like(probs))
        probs = probs / probs.sum()
    return probs
    # END SOLUTION


def sample_token(
    logits: Tensor, params: SamplingParams, generator: torch.Generator
) -> int:
    """The next token: the argmax when greedy, else one draw from the distribution.

    Args:
        logits: ``(V,)``.
        params: the request's sampling parameters.
        generator: the request's own generator (never the global one).
    """
    # BEGIN SOLUTION m1: argmax at temperature 0; otherwise one torch.multinomial draw with the request's generator
    if params.greedy:
        return int(torch.argmax(logits))
    probs = token_distribution(logits, params)  # (V,)
    return int(torch.multinomial(probs, num_samples=1, generator=generator))
    # END SOLUTION


def token_logprob(logits: Tensor, token: int) -> float:
    """The model's own log-probability of ``token`` (before any sampling knob)."""
    return float(torch.log_softmax(logits.double(), dim=-1)[token])


def sample_batch(
    logits: Tensor,
    params: Sequence[SamplingParams],
    generators: Sequence[torch.Generator],
) -> tuple[list[int], list[float]]:
    """One token per row, and its logprob, for a whole batch in a few tensor ops.

    The tokens are exactly those of :func:`sample_token` row by row, so an
    answer does not depend on what shares its batch. ``torch.multinomial``
    draws one sample as the *exponential race* ``argmax(p / q)``, ``q ~
    Exp(1)`` (a Gumbel-max in disguise); drawing each row's ``q`` from its own
    generator, then dividing and taking the argmax of the whole batch at once,
    consumes each generator as ``sample_token`` does and picks the same token,
    for one small op per row instead of a dozen (vLLM's sampler does the same).
    Plain-temperature rows share one softmax; a row with top-k or top-p gets
    its distribution from :func:`token_distribution`.

    Args:
        logits: ``(B, V)`` next-token logits, one row per sequence.
        params: each row's sampling parameters.
        generators: each row's own generator.

    Returns:
        ``(tokens, logprobs)``: ``B`` token ids and the model's own
        log-probability of each (:func:`token_logprob`).
    """
    drawn = [b for b, p in enumerate(params) if not p.greedy]
    if len(drawn) < len(params):
        tokens = torch.argmax(logits, dim=-1)  # (B,) the greedy rows' answer
    if drawn:
        rows = logits if len(drawn) == len(params) else logits[drawn]  # (S, V)
        temperatures = {params[b].temperature for b in drawn}
        if len(temperatures) == 1:  # the usual case: one scalar for the batch
            scaled = rows / temperatures.pop()
        else:
            temps = [params[b].temperature for b in drawn]
            scaled = (
                rows
                / torch.tensor(temps, dtype=rows.dtype, device=rows.device)[:, None]
            )
        probs = torch.softmax(scaled, dim=-1)  # (S, V)
        for i, b in enumerate(drawn):
            if params[b].top_k is not None or params[b].top_p < 1.0:
                probs[i] = token_distribution(rows[i], params[b])
        race = torch.empty_like(probs)  # (S, V)
        for i, b in enumerate(drawn):
            race[i].exponential_(generator=generators[b])
        winners = torch.argmax(probs / race, dim=-1)  # (S,)
        if len(drawn) == len(params):
            tokens = winners
        else:
            tokens[drawn] = winners
    logprobs = torch.log_softmax(logits.double(), dim=-1)  # (B, V)
    picked = logprobs.gather(1, tokens[:, None])[:, 0]  # (B,)
    return tokens.tolist(), picked.tolist()
