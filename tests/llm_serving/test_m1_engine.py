"""m1 — the engine: prefill and decode over lab 7's cache, sampling, stop strings.

Oracles: lab 7's ``generate`` without a cache (greedy, token for token), a
brute-force nucleus computed in numpy, and counts of what the model was fed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.llm_serving import (
    SamplingParams,
    StopChecker,
    generate_one,
    make_generator,
    sample_token,
    token_distribution,
)
from labs.transformer.generate import generate

PROMPTS = ["The ", "def f(x):\n    return", "class Meta", "An expression", "x"]


def brute_force_distribution(logits, temperature, top_k, top_p):
    """Temperature, then top-k, then the nucleus, by sorting in plain numpy (float64)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    order = sorted(range(len(z)), key=lambda i: (-z[i], i))
    allowed = set(order[:top_k]) if top_k is not None else set(order)
    p = np.array(
        [np.exp(z[i] - z.max()) if i in allowed else 0.0 for i in range(len(z))]
    )
    p /= p.sum()
    if top_p < 1:
        kept, mass = set(), 0.0
        for i in sorted(range(len(p)), key=lambda i: (-p[i], i)):
            if mass >= top_p or p[i] == 0:
                break
            kept.add(i)
            mass += p[i]
        p = np.array([p[i] if i in kept else 0.0 for i in range(len(p))])
        p /= p.sum()
    return p


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_equals_lab7_generate_without_a_cache(served, prompt):
    model, tok = served.model, served.tokenizer
    done = generate_one(
        model, tok, prompt, SamplingParams(max_tokens=60, temperature=0)
    )
    ids = tok.encode(prompt).unsqueeze(0)
    expected = generate(model, ids, 60, temperature=0.0, use_cache=False)[
        0, ids.shape[1] :
    ]
    assert done.token_ids == expected.tolist(), (
        "greedy decoding with the KV cache must give exactly the tokens of lab 7's "
        f"uncached generate; got {tok.decode(done.token_ids)!r}, expected "
        f"{tok.decode(expected)!r}"
    )
    assert done.finish_reason == "length" and done.text == tok.decode(expected)


def test_logprobs_are_the_models_own(served):
    model, tok = served.model, served.tokenizer
    done = generate_one(
        model, tok, "The ", SamplingParams(max_tokens=12, temperature=0)
    )
    tokens = tok.encode("The ").tolist()
    for token, logprob in zip(done.token_ids, done.logprobs, strict=True):
        with torch.no_grad():
            logits, _ = model(torch.tensor([tokens]))
        expected = torch.log_softmax(logits[0, -1].double(), -1)[token].item()
        assert logprob == pytest.approx(expected, abs=1e-5)
        tokens.append(token)


def test_prefill_is_one_pass_then_one_token_per_decode_step(served, monkeypatch):
    model, tok = served.model, served.tokenizer
    fed = []
    forward = model.forward

    def counting(idx, *args, **kwargs):
        fed.append(idx.shape[1])
        return forward(idx, *args, **kwargs)

    monkeypatch.setattr(model, "forward", counting)
    prompt = "def f(x):"
    generate_one(model, tok, prompt, SamplingParams(max_tokens=10, temperature=0))
    assert fed == [len(prompt)] + [1] * 9, (
        "prefill feeds the whole prompt in one forward pass, then each decode step "
        "feeds only the token just chosen, and no step runs after the last token; "
        f"the model was fed {fed}"
    )


def test_max_tokens_is_exact(served):
    done = generate_one(
        served.model,
        served.tokenizer,
        "x",
        SamplingParams(max_tokens=7, temperature=0.9, seed=1),
    )
    assert len(done.token_ids) == 7 and done.finish_reason == "length"


def test_a_stop_string_ends_generation_and_is_cut(served):
    model, tok = served.model, served.tokenizer
    full = generate_one(
        model, tok, "An expression", SamplingParams(max_tokens=60, temperature=0)
    )
    stop = full.text[9:12]  # three characters that occur in the greedy answer
    first = full.text.index(stop)
    done = generate_one(
        model,
        tok,
        "An expression",
        SamplingParams(max_tokens=60, temperature=0, stop=(stop,)),
    )
    assert done.finish_reason == "stop"
    assert done.text == full.text[:first], "the answer ends just before the stop string"
    assert done.token_ids == full.token_ids[: first + len(stop)], (
        "generation stops at the token that completes the stop string"
    )


def test_stop_checker_streams_everything_but_the_stop_string():
    checker = StopChecker(("###",))
    deltas = [checker.push(c) for c in "ab#c##d##"]
    assert deltas == ["a", "b", "", "#c", "", "", "##d", "", ""]
    assert not checker.stopped
    assert checker.push("#") == "" and checker.stopped
    assert checker.text == "ab#c##d" and checker.flush() == ""


def test_stop_checker_deltas_add_up_to_the_text():
    rng = np.random.default_rng(0)
    for _ in range(200):
        text = "".join(rng.choice(list("ab\n"), size=30))
        checker = StopChecker(("\n\n", "aba"))
        sent = ""
        for char in text:
            sent += checker.push(char)
            if checker.stopped:
                break
        sent += checker.flush()
        assert sent == checker.text
        assert "\n\n" not in sent and "aba" not in sent
        cut = min((text.find(s) for s in ("\n\n", "aba") if s in text), default=-1)
        assert checker.stopped == (cut >= 0)
        if cut >= 0:
            assert sent == text[:cut]


@pytest.mark.parametrize(
    "temperature, top_k, top_p",
    [
        (1.0, None, 1.0),
        (0.5, None, 0.9),
        (2.0, 20, 1.0),
        (0.8, 10, 0.7),
        (1.3, None, 0.3),
        (0.7, 5, 0.95),
    ],
)
def test_the_distribution_matches_a_brute_force_nucleus(temperature, top_k, top_p):
    gen = torch.Generator().manual_seed(int(temperature * 100) + (top_k or 0))
    for _ in range(25):
        logits = torch.randn(60, generator=gen, dtype=torch.float64) * 3
        params = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p)
        got = token_distribution(logits, params).numpy()
        expected = brute_force_distribution(logits.numpy(), temperature, top_k, top_p)
        np.testing.assert_allclose(got, expected, atol=1e-9)


def test_top_p_keeps_the_token_that_crosses_p():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64))
    probs = token_distribution(logits, SamplingParams(temperature=1.0, top_p=0.6))
    np.testing.assert_allclose(probs.numpy(), [0.625, 0.375, 0, 0], atol=1e-12)
    probs = token_distribution(logits, SamplingParams(temperature=1.0, top_p=0.4))
    np.testing.assert_allclose(probs.numpy(), [1, 0, 0, 0], atol=1e-12)


def test_temperature_scales_logits_before_the_nucleus():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64))
    # at temperature 2, p ∝ sqrt(p): [0.360, 0.279, 0.197, 0.115]; p = 0.6 keeps 2 tokens
    probs = token_distribution(logits, SamplingParams(temperature=2.0, top_p=0.6))
    root = np.sqrt([0.5, 0.3])
    np.testing.assert_allclose(probs.numpy(), [*(root / root.sum()), 0, 0], atol=1e-12)


def test_greedy_is_the_argmax_and_draws_follow_the_distribution():
    logits = torch.tensor([0.1, 2.0, 1.5, -1.0], dtype=torch.float64)
    assert (
        sample_token(logits, SamplingParams(temperature=0), make_generator(0, "cpu"))
        == 1
    )
    params = SamplingParams(temperature=1.0, top_p=0.9)
    gen = make_generator(3, torch.device("cpu"))
    draws = np.bincount(
        [sample_token(logits, params, gen) for _ in range(4000)], minlength=4
    )
    expected = token_distribution(logits, params).numpy() * 4000
    assert draws[expected == 0].sum() == 0
    np.testing.assert_allclose(draws, expected, atol=4 * np.sqrt(expected.max()) + 1)


def test_a_seed_gives_the_same_answer_whatever_else_draws(served):
    model, tok = served.model, served.tokenizer
    params = SamplingParams(max_tokens=40, temperature=1.0, top_k=30, seed=11)
    torch.manual_seed(0)
    first = generate_one(model, tok, "The ", params)
    torch.manual_seed(12345)
    torch.rand(1000)  # another request's draws from the global stream
    second = generate_one(model, tok, "The ", params)
    assert first.token_ids == second.token_ids, (
        "a request's draws must come from its own seeded generator, not the global one"
    )
    other = generate_one(
        model,
        tok,
        "The ",
        SamplingParams(max_tokens=40, temperature=1.0, top_k=30, seed=12),
    )
    assert other.token_ids != first.token_ids
