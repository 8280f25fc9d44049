"""The web apps the kit serves, named by uvicorn import string (``module:factory``).

    server = start_uvicorn(BARE_APP)                       # infra/uvicorn_server.py
    server = start_uvicorn(SERVING_APP, env=settings.as_env(), health_path="/readyz")

They are strings, not imports: uvicorn imports the app in its own process,
so naming a lab's app here does not make ``infra`` import ``labs``.
"""

from __future__ import annotations

# The empty endpoint (infra/bare_app.py): the HTTP ceiling of one uvicorn worker.
BARE_APP = "infra.bare_app:create_app"
# The ranking service of the online_serving lab, the server the load studies measure.
SERVING_APP = "labs.online_serving.main:create_app"
# A server slowed on purpose (labs/load_testing/slow_app.py): one request at a time,
# so its capacity is known in advance; the load-testing lab's tests and study use it.
SLOW_APP = "labs.load_testing.slow_app:create_app"
# What a candidate would write instead of the ranking service (infra/peer_model_app.py):
# FastAPI and a 128-512-512-1 MLP, unbatched and with a minimal batcher.
PEER_MODEL_APP = "infra.peer_model_app:create_unbatched"
PEER_BATCHED_APP = "infra.peer_model_app:create_batched"
