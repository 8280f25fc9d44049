"""The OpenAPI schema describes the service: schemathesis fuzzes the real server.

Not a milestone's test: it checks the given routes, schemas and error
handlers (and the reference behind them), so ``labkit check`` does not run it.
Every operation is called with bodies the schema allows and bodies it
forbids (negative mode), with all of schemathesis' checks on: no 5xx, every
status and content type documented, every body matching its documented
schema, forbidden bodies refused, allowed ones accepted, and the admin route
refusing requests without its token. Bounded (``MAX_EXAMPLES`` per operation
and mode) so it takes seconds.

Exclusions and adjustments, each with its reason:
- The schema allows any id up to 2**53 and up to any number of candidates;
  the service knows only its catalogue (the tiny preset: users and items
  0..999) and scores at most ``max_candidates`` items, neither of which a
  static schema can state. Every id a case carries that the schema allows
  is mapped into the catalogue, and a list cut to ``max_candidates``, so
  that ``positive_data_acceptance`` holds the service to a 2xx for data that
  is really valid. Ids outside the catalogue, and too many candidates, are
  fuzzed by m1's hypothesis test and checked exactly by its contract tests.
- JSON Schema's ``integer`` includes 209.0, which the service refuses on
  purpose (ids are strict; the schema's description says so). A float with
  no fraction in a case is sent as the integer; m1's contract tests check
  that 7.0 is refused.
- ``max_response_time``: off, as by default (no limit is configured);
  latency is the bench's to measure, not a fuzz's on a shared machine.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from serving_helpers import ADMIN_TOKEN

from labs.online_serving.schemas import MAX_ID

pytestmark = pytest.mark.server

MAX_EXAMPLES = 15
CATALOGUE_SIZE = 1000  # tiny's users and items are 0..999
MAX_CANDIDATES = 200  # the settings' default


def documented_schema() -> dict:
    """The schema the app publishes, built in process (no server needed to collect)."""
    from labs.online_serving import Settings, create_app

    return create_app(Settings(admin_token=ADMIN_TOKEN)).openapi()


schema = schemathesis.openapi.from_dict(documented_schema())
schema.config.generation.update(
    modes=list(schemathesis.GenerationMode), max_examples=MAX_EXAMPLES
)
# The admin route's token, given as the schema's security scheme: the auth
# checks then also send each case without it and with a made-up one.
schema.config.auth.openapi.schemes["HTTPBearer"] = (
    schemathesis.config.HttpBearerAuthConfig(bearer=ADMIN_TOKEN)
)


def test_the_server_publishes_the_schema_under_test(full_url: str) -> None:
    import httpx

    served = httpx.get(full_url + "/openapi.json", timeout=10).json()
    assert served == documented_schema()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None)
def test_the_service_does_what_its_schema_says(case, full_url: str) -> None:
    if isinstance(case.body, dict):
        case.body = into_catalogue(case.body)
    case.call_and_validate(base_url=full_url, timeout=10)


def known(value: Any) -> Any:
    """An id the schema allows, mapped into the tiny catalogue; anything else as is."""
    if type(value) is float and value.is_integer():
        value = int(value)  # 209.0: an integer to JSON Schema, refused by the service
    if type(value) is int and 0 <= value <= MAX_ID:
        return value % CATALOGUE_SIZE
    return value


def into_catalogue(body: dict) -> dict:
    mapped = {key: known(value) for key, value in body.items()}
    if isinstance(mapped.get("item_ids"), list):
        mapped["item_ids"] = [known(i) for i in mapped["item_ids"][:MAX_CANDIDATES]]
    return mapped
