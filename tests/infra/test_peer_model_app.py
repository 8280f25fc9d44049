"""The peer apps the ranking service is benchmarked against answer like the model says."""

import asyncio

import httpx
import pytest
import torch

from infra.apps import PEER_BATCHED_APP, PEER_MODEL_APP
from infra.peer_model_app import Mlp, create_batched
from infra.uvicorn_server import running_uvicorn

pytestmark = pytest.mark.server


def test_a_row_scores_the_same_alone_and_in_a_batch():
    model = Mlp()
    users, items = [1, 5000, 7], [2, 3, 99999]
    together = model.score(users, items)
    alone = [model.score([u], [i])[0] for u, i in zip(users, items, strict=True)]
    assert together == pytest.approx(alone, abs=1e-6)
    # An independent forward pass with the same weights: sigmoid(W3 relu(W2 relu(W1 x))).
    x = torch.cat([model.users[1], model.items[2]])
    w = [layer for layer in model.net if isinstance(layer, torch.nn.Linear)]
    h = torch.relu(w[1](torch.relu(w[0](x))))
    assert together[0] == pytest.approx(torch.sigmoid(w[2](h)).item(), abs=1e-6)


@pytest.mark.parametrize("app", [PEER_MODEL_APP, PEER_BATCHED_APP])
def test_both_peers_serve_the_model_over_http(app):
    expected = Mlp().score([3], [4])[0]
    with running_uvicorn(app) as server:
        response = httpx.post(server.url + "/score", json={"user_id": 3, "item_id": 4})
    assert response.status_code == 200
    assert response.json()["score"] == pytest.approx(expected, abs=1e-6)


def test_the_batcher_scores_concurrent_requests_together_and_right():
    app = create_batched()
    model = Mlp()

    async def main() -> list[float]:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://peer") as client,
        ):
            answers = await asyncio.wait_for(
                asyncio.gather(
                    *(
                        client.post("/score", json={"user_id": n, "item_id": 2 * n})
                        for n in range(100)
                    )
                ),
                timeout=10,
            )
        return [a.json()["score"] for a in answers]

    scores = asyncio.run(main())
    expected = model.score(list(range(100)), [2 * n for n in range(100)])
    assert scores == pytest.approx(expected, abs=1e-6)
