"""The HTTP contract of the ranking service, as checks any deployment must pass.

Used against uvicorn (m1, m2) and against Ray Serve (m6): the same app must
behave the same behind either server. Each check takes a base URL and
raises ``AssertionError`` with the response it did not like.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import numpy as np

UNKNOWN_USER = 10_000_000  # far outside the tiny catalogue (ids 0..999)
UNKNOWN_ITEM = 5_000_000

# (route, body, the field its error must name)
INVALID_BODIES: list[tuple[str, Any, tuple[Any, ...]]] = [
    ("/score", {"user_id": "7", "item_id": 1}, ("body", "user_id")),  # a string
    ("/score", {"user_id": 7.5, "item_id": 1}, ("body", "user_id")),  # a float
    ("/score", {"user_id": 7, "item_id": 7.0}, ("body", "item_id")),  # strict: 7.0
    ("/score", {"user_id": 7, "item_id": True}, ("body", "item_id")),  # a bool
    ("/score", {"user_id": -1, "item_id": 1}, ("body", "user_id")),  # negative
    ("/score", {"user_id": 2**80, "item_id": 1}, ("body", "user_id")),  # huge
    ("/score", {"user_id": 7}, ("body", "item_id")),  # missing
    ("/score", {"user_id": 7, "item_id": 1, "extra": 0}, ("body", "extra")),
    ("/rank", {"user_id": 7, "item_ids": "1,2"}, ("body", "item_ids")),
    ("/rank", {"user_id": 7, "item_ids": [1, "x"]}, ("body", "item_ids", 1)),
    ("/rank", {"user_id": 7, "item_ids": []}, ("body", "item_ids")),  # empty
    ("/rank", {"user_id": None, "item_ids": [1]}, ("body", "user_id")),
    ("/rank", [1, 2, 3], ("body",)),  # not an object
]


# Python's JSON parser reads NaN, Infinity and numbers past a double as floats
# (JSON itself has none of them): (route, raw body, the field its error must name)
NON_STANDARD_NUMBERS: list[tuple[str, bytes, tuple[Any, ...]]] = [
    ("/score", b'{"user_id": 1, "item_id": NaN}', ("body", "item_id")),
    ("/score", b'{"user_id": Infinity, "item_id": 1}', ("body", "user_id")),
    ("/score", b'{"user_id": 1, "item_id": -Infinity}', ("body", "item_id")),
    ("/score", b'{"user_id": 1e400, "item_id": 1}', ("body", "user_id")),
    ("/score", b'{"user_id": 1, "item_id": 1, "note": NaN}', ("body", "note")),
    ("/rank", b'{"user_id": 1, "item_ids": [1, NaN]}', ("body", "item_ids", 1)),
    ("/rank", b"NaN", ("body",)),
]


def error_locs(response: httpx.Response) -> list[tuple[Any, ...]]:
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, f"no error list: {response.text}"
    for entry in detail:
        assert entry.get("msg"), f"an error without a message: {response.text}"
    return [tuple(entry["loc"]) for entry in detail]


def check_health(url: str, version: str) -> None:
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(url + "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["model_version"] == version, ready.text


def check_invalid_bodies(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        for route, body, loc in INVALID_BODIES:
            response = client.post(route, json=body)
            assert response.status_code == 422, (route, body, response.text)
            assert loc in error_locs(response), (route, body, response.text)
        broken = client.post(
            "/score",
            content=b'{"user_id": 7,',
            headers={"content-type": "application/json"},
        )
        assert broken.status_code == 422, broken.text
        assert error_locs(broken)[0][0] == "body", broken.text


def check_non_standard_numbers(url: str) -> None:
    """NaN, Infinity and 1e400 are refused with a 422 naming the field, never a 500."""
    with httpx.Client(base_url=url) as client:
        for route, raw, loc in NON_STANDARD_NUMBERS:
            response = client.post(
                route, content=raw, headers={"content-type": "application/json"}
            )
            assert response.status_code == 422, (route, raw, response.text)
            assert loc in error_locs(response), (route, raw, response.text)


def check_domain_errors(url: str, max_candidates: int) -> None:
    """Domain errors, checked in the brief's order: too many items, user, items."""
    with httpx.Client(base_url=url) as client:
        too_many = client.post(
            "/rank", json={"user_id": 7, "item_ids": list(range(max_candidates + 1))}
        )
        assert too_many.status_code == 422, too_many.text
        assert error_locs(too_many) == [("body", "item_ids")], too_many.text
        assert str(max_candidates) in too_many.text, too_many.text
        at_limit = client.post(
            "/rank", json={"user_id": 7, "item_ids": list(range(max_candidates))}
        )
        assert at_limit.status_code == 200, (
            f"exactly max_candidates={max_candidates} items must be scored: "
            f"{at_limit.text[:300]}"
        )
        both = client.post(  # too many AND an unknown user: the length comes first
            "/rank",
            json={"user_id": UNKNOWN_USER, "item_ids": list(range(max_candidates + 1))},
        )
        assert both.status_code == 422, both.text
        unknown_both = client.post(  # unknown user AND item: the user comes first
            "/rank", json={"user_id": UNKNOWN_USER, "item_ids": [1, UNKNOWN_ITEM]}
        )
        assert unknown_both.status_code == 404, unknown_both.text
        assert error_locs(unknown_both) == [("body", "user_id")], unknown_both.text
        for route, body in (
            ("/score", {"user_id": UNKNOWN_USER, "item_id": 1}),
            ("/rank", {"user_id": UNKNOWN_USER, "item_ids": [1, 2]}),
        ):
            response = client.post(route, json=body)
            assert response.status_code == 404, response.text
            assert error_locs(response) == [("body", "user_id")], response.text
            assert str(UNKNOWN_USER) in response.text, response.text
        item = client.post("/rank", json={"user_id": 7, "item_ids": [1, UNKNOWN_ITEM]})
        assert item.status_code == 422, item.text
        assert error_locs(item) == [("body", "item_ids")], item.text
        assert str(UNKNOWN_ITEM) in item.text, item.text


def check_scores(
    url: str,
    oracle: Callable[[int, list[int]], np.ndarray],
    version: str,
    user_id: int,
    item_ids: list[int],
) -> None:
    """/rank and /score give the offline scores, sorted, with the model version."""
    expected = oracle(user_id, item_ids)
    with httpx.Client(base_url=url) as client:
        response = client.post("/rank", json={"user_id": user_id, "item_ids": item_ids})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_version"] == version and body["fallback"] is False, body
        assert body["user_id"] == user_id
        got = {(row["item_id"]): row["score"] for row in body["items"]}
        assert sorted(row["item_id"] for row in body["items"]) == sorted(item_ids)
        for item, want in zip(item_ids, expected, strict=True):
            assert got[item] == float(want), (item, got[item], want)
        scores = [row["score"] for row in body["items"]]
        assert scores == sorted(scores, reverse=True), scores
        single = client.post(
            "/score", json={"user_id": user_id, "item_id": item_ids[0]}
        )
        assert single.status_code == 200, single.text
        assert single.json()["score"] == float(expected[0]), single.text
        assert single.json()["model_version"] == version
