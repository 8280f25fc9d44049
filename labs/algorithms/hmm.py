"""m4 — Viterbi decoding: a user's hidden intent from what they click.

    from labs.algorithms.hmm import INTENT_HMM, viterbi
    path, log_p = viterbi(INTENT_HMM, [0, 0, 1, 0, 2, 2])   # observations: clicks per request
    [INTENT_HMM.states[s] for s in path]   # ['browsing', ..., 'buying', 'buying']

A hidden Markov model: the user is in one of S hidden states (browsing,
comparing, buying) that change from request to request with ``transition``
probabilities, and each request shows an observation (no click, one click,
several) with ``emission`` probabilities that depend on the state. Viterbi
finds the single most likely state sequence given T observations.

``score[s]`` is the log probability of the best path that ends in state ``s``
at the current step. One step: for every pair (from, to),
``score[from] + log transition[from, to]``; keep the best ``from`` for every
``to`` as a back pointer, add ``log emission[to, observation]``. After the
last step, the best final state and the back pointers, followed backwards,
give the path. O(T S^2) time, O(T S) memory for the back pointers.

**Log space.** A product of T probabilities underflows: with per-step
probabilities around 0.3, a path of about 600 requests has probability
below 1e-308 and every score becomes 0.0, so every state ties and the path is
garbage. Sums of logs do not underflow (or rescale each step). A probability
of 0 becomes ``-inf``, which is fine: that path is impossible.

The tests compare with a brute force over every path of short sequences,
and decode a long sequence whose answer is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HMM:
    """A discrete hidden Markov model; every probability row sums to 1."""

    states: tuple[str, ...]
    observations: tuple[str, ...]
    start: np.ndarray  # (S,) P(first state)
    transition: np.ndarray  # (S, S) P(next state | state), rows sum to 1
    emission: np.ndarray  # (S, O) P(observation | state), rows sum to 1

    def __post_init__(self) -> None:
        s, o = len(self.states), len(self.observations)
        shapes = {"start": (s,), "transition": (s, s), "emission": (s, o)}
        for name, shape in shapes.items():
            value = np.asarray(getattr(self, name), dtype=float)
            if value.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {value.shape}.")
            if (value < 0).any() or not np.allclose(value.sum(axis=-1), 1.0):
                raise ValueError(
                    f"{name}'s probabilities must be non-negative and each row must "
                    f"sum to 1; got row sums {np.round(value.sum(axis=-1), 4)}."
                )
            object.__setattr__(self, name, value)


# Illustrative parameters for ShopStream sessions (observations: clicks in a
# request's slate). A buyer clicks more and tends to stay a buyer.
INTENT_HMM = HMM(
    states=("browsing", "comparing", "buying"),
    observations=("no click", "one click", "several clicks"),
    start=np.array([0.80, 0.15, 0.05]),
    transition=np.array([[0.80, 0.15, 0.05], [0.20, 0.65, 0.15], [0.10, 0.25, 0.65]]),
    emission=np.array([[0.85, 0.13, 0.02], [0.45, 0.45, 0.10], [0.15, 0.45, 0.40]]),
)


def viterbi(hmm: HMM, observed: Sequence[int]) -> tuple[list[int], float]:
    """The most likely hidden state sequence for ``observed``, and its log probability.

    Args:
        hmm: the model.
        observed: observation indices (into ``hmm.observations``), at least one.

    Returns:
        ``(path, log_p)``: a state index per observation, and the natural log
        of the joint probability of that path and the observations (``-inf``
        when every path is impossible). At a tie the smaller state index wins.

    O(T S^2) time, O(T S) memory.
    """
    if len(observed) == 0:
        raise ValueError("observed is empty; decode at least one observation.")
    bad = [o for o in observed if not 0 <= o < len(hmm.observations)]
    if bad:
        raise ValueError(
            f"observation {bad[0]!r} is not an index into {hmm.observations}."
        )
    # BEGIN SOLUTION m4: in log space: score = log start + log emission; per step add log transition, keep argmax back pointers, add log emission; follow the pointers back
    with np.errstate(divide="ignore"):  # log 0 = -inf: an impossible step
        log_start, log_transition, log_emission = (
            np.log(hmm.start),
            np.log(hmm.transition),
            np.log(hmm.emission),
        )
    back = np.zeros((len(observed), len(hmm.states)), dtype=np.int64)
    score = log_start + log_emission[:, observed[0]]  # (S,)
    for t in range(1, len(observed)):
        through = score[:, None] + log_transition  # (from S, to S)
        back[t] = through.argmax(axis=0)
        score = through.max(axis=0) + log_emission[:, observed[t]]
    path = [int(score.argmax())]
    for t in range(len(observed) - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1], float(score.max())
    # END SOLUTION


def path_log_probability(
    hmm: HMM, path: Sequence[int], observed: Sequence[int]
) -> float:
    """log P(path, observed) under ``hmm``, computed directly (given)."""
    with np.errstate(divide="ignore"):
        total = np.log(hmm.start[path[0]]) + np.log(hmm.emission[path[0], observed[0]])
        for t in range(1, len(path)):
            total += np.log(hmm.transition[path[t - 1], path[t]])
            total += np.log(hmm.emission[path[t], observed[t]])
    return float(total)
