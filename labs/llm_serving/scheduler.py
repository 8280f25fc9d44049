"""The iteration-level scheduler: which sequences run in the next forward pass.

    scheduler = Scheduler(model, tokenizer, kv, policy="continuous", max_num_seqs=8)
    scheduler.add(seq)
    while scheduler.has_work:
        for event in scheduler.step():   # one forward pass, one token per running sequence
            ...

**Static batching** (``policy="static"``, the baseline) takes a batch of up
to ``max_num_seqs`` requests, waiting up to ``batch_wait_timeout_s`` for
the batch to fill, and admits nobody else until *every* sequence in it has
finished: a 5-token autocomplete that shares a batch with a 150-token
description holds its place, and the queue behind it waits, for 150 steps.

**Continuous batching** (``policy="continuous"``, Orca's iteration-level
scheduling) decides again at every step: a finished sequence leaves at once
and frees its cache, and waiting sequences join as soon as there is a place
in the batch and room in the KV cache for their tokens. Each step runs one
forward pass over every running sequence: the newcomers prefill their
prompts, the others decode one token (``batch_forward.py``).

Admission is first come, first served: when the head of the queue does not
fit, nobody overtakes it.

**Preemption** (milestone m3, with the paged cache): a running sequence
needs a new block every ``block_size`` tokens. When none is free the
*newest* running sequence (the one admitted last, which has the least work
to lose) is preempted: its blocks are freed, it goes back to the *front* of
the queue, and it is recomputed from its tokens when there is room again.

Check it: ``labkit check llm_serving`` (milestones m2 and m3).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from labs.llm_serving.batch_forward import forward_batch
from labs.llm_serving.kv_store import KVStore
from labs.llm_serving.sampling import sample_batch
from labs.llm_serving.sequence import Finish, Sequence, TokenEvent
from labs.transformer.corpus import CharTokenizer
from labs.transformer.model import GPT

Policy = Literal["continuous", "static"]


@dataclass
class SchedulerStats:
    """Counts since the scheduler was made (the bench reads them)."""

    steps: int = 0
    prefill_tokens: int = 0  # tokens fed by sequences starting (or resuming)
    decode_tokens: int = 0  # one per running sequence per decode step
    generated: int = 0  # tokens sampled
    preemptions: int = 0
    shared_tokens: int = 0  # prompt positions mapped to another sequence's blocks
    batch_seqs: int = 0  # sum over steps of the batch size
    reserved_token_steps: int = 0  # sum over steps of kv.reserved_tokens
    used_token_steps: int = 0  # sum over steps of kv.used_tokens


class Scheduler:
    """Continuous or static batching over one model and one KV store."""

    def __init__(
        self,
        model: GPT,
        tokenizer: CharTokenizer,
        kv: KVStore,
        *,
        policy: Policy = "continuous",
        max_num_seqs: int = 8,
        batch_wait_timeout_s: float = 0.05,
        prefix_sharing: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ):
        if policy not in ("continuous", "static"):
            raise ValueError(
                f"policy must be 'continuous' or 'static', got {policy!r}."
            )
        if max_num_seqs < 1:
            raise ValueError(f"max_num_seqs must be >= 1, got {max_num_seqs}.")
        if prefix_sharing and not hasattr(kv, "fork"):
            raise ValueError(
                "prefix_sharing needs a KV store that can fork (the paged cache)."
            )
        self.model, self.tokenizer, self.kv = model, tokenizer, kv
        self.policy: Policy = policy
        self.max_num_seqs = max_num_seqs
        self.batch_wait_timeout_s = batch_wait_timeout_s
        self.prefix_sharing = prefix_sharing
        self.clock = clock
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []  # in admission order
        self.stats = SchedulerStats()
        self._admissions = itertools.count(1)

    # --- requests in and out (given) -----------------------------------------------
    def add(self, seq: Sequence) -> None:
        """Queue a new sequence; it starts when the policy admits it."""
        window = self.model.config.block_size
        if seq.prompt_len + seq.params.max_tokens > window:
            raise ValueError(
                f"sequence {seq.seq_id}: {seq.prompt_len} prompt + "
                f"{seq.params.max_tokens} new tokens exceed the context window {window}."
            )
        seq.status = "waiting"
        self.waiting.append(seq)

    def abort(self, seq_id: int) -> Sequence | None:
        """Drop a sequence wherever it is and free its cache at once."""
        for seq in self.waiting:
            if seq.seq_id == seq_id:
                self.waiting.remove(seq)
                self._finish(seq, "abort", free=False)
                return seq
        for seq in self.running:
            if seq.seq_id == seq_id:
                self._retire(seq, "abort")
                return seq
        return None

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    # --- one step ----------------------------------------------------------------------
    def step(self) -> list[TokenEvent]:
        """Admit, make room, run one forward pass, sample one token per sequence."""
        self._admit()
        self._reserve_running()
        if not self.running:
            return []
        batch = list(self.running)
        stats = self.stats
        stats.steps += 1
        stats.batch_seqs += len(batch)
        stats.reserved_token_steps += self.kv.reserved_tokens
        stats.used_token_steps += self.kv.used_tokens
        # Prefills and decodes in separate passes: padded together, every decode
        # row would be padded to the longest prompt in the batch.
        prefills = [s for s in batch if len(s.uncached) > 1]
        decodes = [s for s in batch if len(s.uncached) == 1]
        events = []
        for group in (prefills, decodes):
            if not group:
                continue
            logits = forward_batch(
                self.model,
                self.kv,
                [s.seq_id for s in group],
                [s.num_cached for s in group],
                [s.uncached for s in group],
            )  # (B, V)
            if group is prefills:
                stats.prefill_tokens += sum(len(s.uncached) for s in group)
            else:
                stats.decode_tokens += len(group)
            tokens, logprobs = sample_batch(
                logits, [s.params for s in group], [s.generator for s in group]
            )
            events += [
                self._record(s, token, logprob)
                for s, token, logprob in zip(group, tokens, logprobs, strict=True)
            ]
        return events

    def _record(self, seq: Sequence, token: int, logprob: float) -> TokenEvent:
        """The sampled token joins the sequence; it finishes on a stop string or max_tokens."""
        seq.num_cached = len(seq.tokens)
        seq.tokens.append(token)
        seq.logprobs.append(logprob)
        self.stats.generated += 1
        if seq.first_token_at is None:
            seq.first_token_at = self.clock()
        text = seq.stop.push(self.tokenizer.chars[token])
        reason: Finish | None = None
        if seq.stop.stopped:
            reason = "stop"
        elif seq.num_output >= seq.params.max_tokens:
            reason = "length"
            text += seq.stop.flush()
        if reason is not None:
            self._retire(seq, reason)
        return TokenEvent(seq.seq_id, token, text, logprob, reason is not None, reason)

    # --- admission ---------------------------------------------------------------------
    def _admit(self) -> None:
        if self.policy == "static":
            self._admit_static()
        else:
            self._admit_continuous()

    def _admit_static(self) -> None:
        """A new batch only when the last one has entirely finished, and is full or waited enough."""
        if self.running or not self.waiting:
            return
        waited = self.clock() - self.waiting[0].arrival
        if len(self.waiting) < self.max_num_seqs and waited < self.batch_wait_timeout_s:
            return
        while self.waiting and len(self.running) < self.max_num_seqs:
            if not self._try_start(self.waiting[0]):
                break
            self.waiting.popleft()

    def _admit_continuous(self) -> None:
        """At every step: start waiting sequences, oldest first, while they fit."""
        # BEGIN SOLUTION m2: while someone waits and the batch has a place (max_num_seqs), try to start the head of the queue (self._try_start reserves all its tokens); stop at the first that does not fit (no overtaking)
        while self.waiting and len(self.running) < self.max_num_seqs:
            if not self._try_start(self.waiting[0]):
                break
            self.waiting.popleft()
        # END SOLUTION

    def _try_start(self, seq: Sequence) -> bool:
        """Reserve room for all of ``seq``'s tokens and add it to the batch; False if it does not fit.

        The caller removes it from the queue. With prefix sharing its prompt
        first maps the blocks of a running sequence that starts the same way.
        """
        if self.prefix_sharing:
            self._share_prefix(seq)
        if not self.kv.reserve(seq.seq_id, len(seq.tokens)):
            if seq.seq_id in self.kv.lengths:  # undo the shared prefix
                self.kv.free(seq.seq_id)
            seq.num_cached = 0
            return False
        seq.status = "running"
        seq.admitted = next(self._admissions)
        if seq.started_at is None:
            seq.started_at = self.clock()
        self.running.append(seq)
        return True

    def _share_prefix(self, seq: Sequence) -> None:
        """Map the longest prompt prefix another running sequence holds to its blocks."""
        best, best_len = None, 0
        for other in self.running:
            limit = min(other.num_cached, len(seq.tokens) - 1)  # recompute >= 1 token
            n = 0
            while n < limit and other.tokens[n] == seq.tokens[n]:
                n += 1
            if n > best_len:
                best, best_len = other, n
        if best is not None and best_len >= self.kv.block_size:  # type: ignore[attr-defined]
            self.kv.fork(best.seq_id, seq.seq_id, best_len)  # type: ignore[attr-defined]
            seq.num_cached = best_len
            self.stats.shared_tokens += best_len

    # --- memory and the end of a sequence ------------------------------------------------
    def _reserve_running(self) -> None:
        """Room for every running sequence's next tokens, oldest first."""
        for seq in list(self.running):
            if seq.status == "running" and not self.kv.reserve(
                seq.seq_id, len(seq.tokens)
            ):
                self._make_room(seq)

    def _make_room(self, seq: Sequence) -> None:
        """Out of blocks for ``seq``: preempt the newest running sequences until it fits."""
        # BEGIN SOLUTION m3: repeatedly preempt the newest running sequence (largest admitted); stop once seq itself was preempted or its reservation of len(seq.tokens) succeeds
        while True:
            victim = max(self.running, key=lambda s: s.admitted)
            self._preempt(victim)
            if victim is seq or self.kv.reserve(seq.seq_id, len(seq.tokens)):
                return
        # END SOLUTION

    def _preempt(self, seq: Sequence) -> None:
        """Free its cache; queue it first, to recompute its tokens when it resumes."""
        self.running.remove(seq)
        if seq.seq_id in self.kv.lengths:
            self.kv.free(seq.seq_id)
        seq.num_cached = 0
        seq.status = "waiting"
        seq.preemptions += 1
        self.stats.preemptions += 1
        self.waiting.appendleft(seq)

    def _retire(self, seq: Sequence, reason: Finish) -> None:
        """A running sequence is done: it leaves the batch and frees its cache at once."""
        # BEGIN SOLUTION m2: remove it from self.running, free its KV slots (self.kv.free), and mark it finished with the reason
        self.running.remove(seq)
        self.kv.free(seq.seq_id)
        self._finish(seq, reason, free=False)
        # END SOLUTION

    def _finish(self, seq: Sequence, reason: Finish, *, free: bool) -> None:
        if free:
            self.kv.free(seq.seq_id)
        seq.status = "finished"
        seq.finish_reason = reason
        seq.finished_at = self.clock()
