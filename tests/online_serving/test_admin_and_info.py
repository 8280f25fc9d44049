"""The admin route needs the configured token, and nothing shows a filesystem path.

Given code (``deps.require_admin``, ``routes.info``), tested in process on the
real app: ``POST /admin/reload`` is off without ``LABKIT_SERVING_ADMIN_TOKEN``
(404), and with it answers 401 without a bearer token, 403 with a wrong one
and 200 with the right one, compared in constant time. ``/info`` and
``/readyz`` name the store's backend, never its file or URL.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

import pytest
from serving_helpers import make_service, serving_app

TOKEN = "correct-horse-battery-staple"


def reload_answers(service_parts: dict, headers: list[dict[str, str]], **kw: Any):
    """The responses of ``POST /admin/reload`` with each of ``headers``."""
    service = make_service(service_parts, milestone=4, **kw)

    async def main() -> list[Any]:
        async with serving_app(service) as client:
            return [await client.post("/admin/reload", headers=h) for h in headers]

    return asyncio.run(main())


def test_admin_routes_are_off_without_a_configured_token(service_parts) -> None:
    for response in reload_answers(
        service_parts, [{}, {"authorization": f"Bearer {TOKEN}"}]
    ):
        assert response.status_code == 404, response.text
        assert "LABKIT_SERVING_ADMIN_TOKEN" in response.json()["detail"], response.text


def test_admin_routes_refuse_a_missing_or_wrong_token(service_parts) -> None:
    missing, other_scheme, wrong, prefix, longer = reload_answers(
        service_parts,
        [
            {},
            {"authorization": f"Basic {TOKEN}"},
            {"authorization": "Bearer wrong"},
            {"authorization": f"Bearer {TOKEN[:-1]}"},
            {"authorization": f"Bearer {TOKEN}x"},
        ],
        admin_token=TOKEN,
    )
    for response in (missing, other_scheme):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer", response.headers
    for response in (wrong, prefix, longer):
        assert response.status_code == 403, response.text
        assert TOKEN not in response.text


def test_the_right_token_reloads_and_is_compared_in_constant_time(
    service_parts, model, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    (right,) = reload_answers(
        service_parts, [{"authorization": f"Bearer {TOKEN}"}], admin_token=TOKEN
    )
    assert right.status_code == 200, right.text
    assert right.json() == {"model_version": model.version, "swapped": False}
    assert compared == [(TOKEN.encode(), TOKEN.encode())], (
        "compare the token with hmac.compare_digest: == stops at the first "
        "wrong character, and its time tells how much of a guess was right"
    )


def test_the_token_is_not_in_the_settings_repr() -> None:
    from labs.online_serving import Settings

    assert TOKEN not in repr(Settings(admin_token=TOKEN))


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []


def test_info_and_readiness_show_no_filesystem_path(service_parts) -> None:
    service = make_service(service_parts, milestone=4)
    where = service_parts["store"].online.describe()  # e.g. sqlite:/…/online.db

    async def main() -> list[Any]:
        async with serving_app(service) as client:
            return [(await client.get(path)).json() for path in ("/info", "/readyz")]

    info, ready = asyncio.run(main())
    assert info["store"] == service.settings.store_backend, info
    for body in (info, ready):
        text = json.dumps(body)
        assert where.split(":", 1)[-1] not in text, body
        paths = [s for s in strings(body) if "/" in s or "\\" in s]
        assert not paths, f"a path in {body}: {paths}"
