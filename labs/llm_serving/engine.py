"""One request, start to end: prefill the prompt, then decode one token per step.

    served = ensure_model("tiny")
    done = generate_one(served.model, served.tokenizer, "def ", SamplingParams(max_tokens=20))
    done.text, done.token_ids, done.logprobs, done.finish_reason

Generation has two phases with very different costs:

- **prefill** runs the whole prompt through the model in *one* forward pass,
  ``T`` positions at once, filling lab 7's KV cache with the prompt's keys
  and values and giving the logits of the first new token. It is a big
  matrix multiply: compute-bound, and cheap per token.
- **decode** then feeds only the token just chosen, one position per
  forward pass: the weights (and the whole KV cache) are read from memory to
  do a few multiply-adds per byte. Memory-bound: a step costs about as much
  for one sequence as for many, which is why servers batch decodes (m2).

Generation stops at ``max_tokens`` (``finish_reason = "length"``) or when the
text ends with a stop string (``"stop"``, the stop string cut off). Greedy
decoding (temperature 0) here gives exactly the tokens of lab 7's
``generate`` without a cache: the cache changes the cost, never the answer.

Check it: ``labkit check llm_serving`` (milestone m1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from labs.llm_serving.sampling import (
    SamplingParams,
    make_generator,
    sample_token,
    token_logprob,
)
from labs.llm_serving.stopping import StopChecker
from labs.transformer.corpus import CharTokenizer
from labs.transformer.kv_cache import KVCache
from labs.transformer.model import GPT

FinishReason = Literal["length", "stop"]


@dataclass
class Completion:
    """What one request produced."""

    prompt: str
    text: str  # the answer, without a stop string
    token_ids: list[int] = field(default_factory=list)  # every token sampled
    logprobs: list[float] = field(default_factory=list)  # the model's, per token
    finish_reason: FinishReason = "length"


def encode_prompt(tokenizer: CharTokenizer, prompt: str, block_size: int) -> Tensor:
    """The prompt's ids ``(T,)``; a ValueError that names the problem otherwise."""
    if not prompt:
        raise ValueError("the prompt is empty; give at least one character.")
    if len(prompt) >= block_size:
        raise ValueError(
            f"the prompt has {len(prompt)} characters but the context window is "
            f"{block_size}; shorten it to at most {block_size - 1}."
        )
    return tokenizer.encode(prompt)


@torch.no_grad()
def prefill(model: GPT, prompt_ids: Tensor, cache: KVCache) -> Tensor:
    """Run the whole prompt once, filling ``cache``; the next token's logits.

    Args:
        model: lab 7's GPT.
        prompt_ids: ``(T,)`` token ids.
        cache: an empty :class:`~labs.transformer.kv_cache.KVCache` of batch 1.

    Returns:
        ``(V,)`` logits of the position after the prompt.
    """
    # BEGIN SOLUTION m1: one forward pass over the whole prompt with the cache; the logits of its last position
    logits, _ = model(prompt_ids.unsqueeze(0), cache=cache)  # (1, T, V)
    return logits[0, -1]  # (V,)
    # END SOLUTION


@torch.no_grad()
def decode_step(model: GPT, token: int, cache: KVCache) -> Tensor:
    """Feed one new token; its keys and values join the cache; the next logits ``(V,)``."""
    # BEGIN SOLUTION m1: feed only the new token, shape (1, 1), at position cache.length; return the logits of that position
    device = model.wte.weight.device
    idx = torch.tensor([[token]], dtype=torch.long, device=device)  # (1, 1)
    logits, _ = model(idx, cache=cache)  # (1, 1, V)
    return logits[0, -1]  # (V,)
    # END SOLUTION


def generate_one(
    model: GPT,
    tokenizer: CharTokenizer,
    prompt: str,
    params: SamplingParams,
    *,
    generator: torch.Generator | None = None,
) -> Completion:
    """Generate the answer to one prompt with lab 7's KV cache.

    Args:
        model: lab 7's GPT (eval mode).
        tokenizer: its character tokenizer.
        prompt: the text to continue (at least one character).
        params: sampling and stop conditions; ``len(prompt) + max_tokens``
            must fit in the context window.
        generator: the random stream; by default one seeded by ``params.seed``.

    Returns:
        A :class:`Completion`; at most ``max_tokens`` tokens were sampled.
    """
    block_size = model.config.block_size
    prompt_ids = encode_prompt(tokenizer, prompt, block_size)
    prompt_ids = prompt_ids.to(model.wte.weight.device)
    if len(prompt_ids) + params.max_tokens > block_size:
        raise ValueError(
            f"{len(prompt_ids)} prompt + {params.max_tokens} new tokens do not fit the "
            f"context window of {block_size}; lower max_tokens to at most "
            f"{block_size - len(prompt_ids)}."
        )
    cache = KVCache.for_model(
        model, batch=1, max_len=len(prompt_ids) + params.max_tokens
    )
    generator = generator or make_generator(params.seed, model.wte.weight.device)
    checker = StopChecker(params.stop)
    done = Completion(prompt=prompt, text="")
    # BEGIN SOLUTION m1: prefill, then loop: sample (record the token and its logprob), push its text to the checker, stop on a stop string or after max_tokens; decode only when another token is needed
    logits = prefill(model, prompt_ids, cache)  # (V,)
    for step in range(params.max_tokens):
        token = sample_token(logits, params, generator)
        done.token_ids.append(token)
        done.logprobs.append(token_logprob(logits, token))
        checker.push(tokenizer.chars[token])
        if checker.stopped:
            done.finish_reason = "stop"
            break
        if step < params.max_tokens - 1:
            logits = decode_step(model, token, cache)
    done.text = checker.text
    return done
    # END SOLUTION
