"""A request's life inside the engine, and what each engine step reports.

    seq = Sequence.create(7, "def ", prompt_ids, params, device=model_device)
    seq.tokens          # prompt then every token generated so far
    seq.num_cached      # positions whose keys and values are in the cache
    seq.uncached        # what the next forward pass must feed: the whole prompt
                        # at first (prefill), then one token per step (decode)

A sequence is ``waiting`` (queued, or preempted and queued again),
``running`` (in the batch) or ``finished``. Preemption by recompute throws
its cache away (``num_cached = 0``) but keeps its tokens: on resume the
prompt *and* everything generated are prefilled again, and generation goes
on where it stopped, with the same random stream, so the answer is the one
it would have been.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Literal

import torch

from labs.llm_serving.sampling import SamplingParams, make_generator
from labs.llm_serving.stopping import StopChecker

Status = Literal["waiting", "running", "finished"]
Finish = Literal["length", "stop", "abort", "error"]
_ids = itertools.count(1)


def next_seq_id() -> int:
    return next(_ids)


@dataclass(eq=False)
class Sequence:
    """One request's state in the scheduler."""

    seq_id: int
    prompt: str
    params: SamplingParams
    generator: torch.Generator
    stop: StopChecker
    tokens: list[int]  # prompt ids, then generated ids
    prompt_len: int
    arrival: float  # when the request reached the engine (the scheduler's clock)
    logprobs: list[float] = field(default_factory=list)
    num_cached: int = 0
    status: Status = "waiting"
    finish_reason: Finish | None = None
    admitted: int = 0  # admission order: the newest running sequence has the largest
    preemptions: int = 0
    started_at: float | None = None  # first admitted to the batch
    first_token_at: float | None = None
    finished_at: float | None = None

    @classmethod
    def create(
        cls,
        seq_id: int,
        prompt: str,
        prompt_ids: list[int],
        params: SamplingParams,
        *,
        device: torch.device | str = "cpu",
        arrival: float | None = None,
    ) -> Sequence:
        return cls(
            seq_id=seq_id,
            prompt=prompt,
            params=params,
            generator=make_generator(params.seed, torch.device(device)),
            stop=StopChecker(params.stop),
            tokens=list(prompt_ids),
            prompt_len=len(prompt_ids),
            arrival=time.monotonic() if arrival is None else arrival,
        )

    @property
    def output_ids(self) -> list[int]:
        return self.tokens[self.prompt_len :]

    @property
    def num_output(self) -> int:
        return len(self.tokens) - self.prompt_len

    @property
    def uncached(self) -> list[int]:
        """The tokens the next forward pass feeds (their K/V are not cached yet)."""
        return self.tokens[self.num_cached :]

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def text(self) -> str:
        """The answer so far, without a stop string."""
        return self.stop.text


@dataclass(frozen=True)
class TokenEvent:
    """What one step produced for one sequence: a token, and maybe the end.

    ``text`` is the text now safe to send (it may be empty while a possible
    stop string is held back, or longer than one character when held text
    is released). A finished sequence's last event has ``finished`` set; an
    aborted one gets a final event with ``token = -1``.
    """

    seq_id: int
    token: int
    text: str
    logprob: float
    finished: bool = False
    finish_reason: Finish | None = None
