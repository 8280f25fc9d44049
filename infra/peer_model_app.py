"""What a candidate would write instead of the kit's service: FastAPI and an MLP, nothing else.

    server = start_uvicorn(PEER_MODEL_APP)                              # unbatched
    server = start_uvicorn(PEER_BATCHED_APP)                            # a 15-line batcher

The ranking service is measured against these two (``labkit bench
online_serving``). They answer ``POST /score {"user_id", "item_id"}`` with a
128-512-512-1 MLP's output, its input looked up from fixed random embeddings
(no feature store, no validation beyond the typed body, no metrics). One
scores each request alone, in the event loop; the other queues requests and
scores up to ``MAX_BATCH`` at once, the smallest batcher that works. What the
kit's service costs beyond them is the price of its real work: the feature
read, strict validation, metrics, and the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import torch
from fastapi import FastAPI
from pydantic import BaseModel

from infra.bare_app import ScoreBody

EMBEDDINGS = 4096  # ids are hashed into this many rows of each table
WIDTH = 64  # user and item embeddings, concatenated: 128 inputs
MAX_BATCH = 64


class ScoreAnswer(BaseModel):
    score: float


class Mlp:
    """A 128-512-512-1 MLP over two embedding lookups; the same weights every start."""

    def __init__(self, seed: int = 0):
        torch.set_num_threads(1)  # one core per worker, as the service runs
        generator = torch.Generator().manual_seed(seed)
        self.users = torch.randn(EMBEDDINGS, WIDTH, generator=generator)
        self.items = torch.randn(EMBEDDINGS, WIDTH, generator=generator)
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2 * WIDTH, 512),
            torch.nn.ReLU(),
            torch.nn.Linear(512, 512),
            torch.nn.ReLU(),
            torch.nn.Linear(512, 1),
        ).eval()

    @torch.inference_mode()
    def score(self, users: list[int], items: list[int]) -> list[float]:
        u = self.users[torch.tensor(users) % EMBEDDINGS]
        i = self.items[torch.tensor(items) % EMBEDDINGS]
        logits = self.net(torch.cat([u, i], dim=1))[:, 0]
        return torch.sigmoid(logits).tolist()


def create_unbatched() -> FastAPI:
    """Each request scored alone, in the event loop (the model takes well under 1 ms)."""
    app = FastAPI(title="peer: FastAPI + MLP")
    model = Mlp()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/score")
    async def score(body: ScoreBody) -> ScoreAnswer:
        return ScoreAnswer(score=model.score([body.user_id], [body.item_id])[0])

    return app


def create_batched() -> FastAPI:
    """Requests queue; one task scores whatever has arrived, up to ``MAX_BATCH`` at once."""
    model = Mlp()
    queue: asyncio.Queue[tuple[ScoreBody, asyncio.Future[float]]] = asyncio.Queue()

    async def batcher() -> None:
        while True:
            batch = [await queue.get()]  # wait for the first, then take what is there
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            scores = model.score(
                [b.user_id for b, _ in batch], [b.item_id for b, _ in batch]
            )
            for (_, future), value in zip(batch, scores, strict=True):
                if not future.done():
                    future.set_result(value)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(batcher())
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(title="peer: FastAPI + MLP + batcher", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/score")
    async def score(body: ScoreBody) -> ScoreAnswer:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        await queue.put((body, future))
        return ScoreAnswer(score=await future)

    return app
