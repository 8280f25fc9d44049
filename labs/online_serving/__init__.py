"""Lab 4 — online serving: a FastAPI ranking service with dynamic micro-batching,
timeouts and fallbacks, load shedding, hot model swaps, Prometheus metrics and a
Ray Serve deployment.

    uvicorn labs.online_serving.main:create_app --factory --port 8000

    from labs.online_serving import Settings, create_app, MicroBatcher
    app = create_app(Settings(preset="tiny", max_batch_size=32))

The brief is ``README.md`` next to this file.
"""

from labs.online_serving.batcher import BatcherClosed, MicroBatcher
from labs.online_serving.features import (
    Catalogue,
    Popularity,
    open_store,
    read_features,
    stack_rows,
)
from labs.online_serving.main import create_app
from labs.online_serving.metrics import NullMetrics, RequestTimer, ServiceMetrics
from labs.online_serving.models import ModelHolder, warm_up
from labs.online_serving.schemas import (
    RankRequest,
    RankResponse,
    ScoredItem,
    ScoreRequest,
    ScoreResponse,
)
from labs.online_serving.scoring import (
    FeatureUnavailable,
    Job,
    Scored,
    Scorer,
    rank_order,
    split_scores,
)
from labs.online_serving.service import Overloaded, RequestRejected, Service
from labs.online_serving.settings import Settings, get_settings

__all__ = [
    "BatcherClosed",
    "Catalogue",
    "FeatureUnavailable",
    "Job",
    "MicroBatcher",
    "ModelHolder",
    "NullMetrics",
    "Overloaded",
    "Popularity",
    "RankRequest",
    "RankResponse",
    "RequestRejected",
    "RequestTimer",
    "ScoreRequest",
    "ScoreResponse",
    "Scored",
    "ScoredItem",
    "Scorer",
    "Service",
    "ServiceMetrics",
    "Settings",
    "create_app",
    "get_settings",
    "open_store",
    "rank_order",
    "read_features",
    "split_scores",
    "stack_rows",
    "warm_up",
]
