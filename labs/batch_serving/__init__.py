"""Lab 3 — batch serving: score request partitions with Ray Data, exactly once, and
publish the scores to the online store.

    from labs.batch_serving import JobSpec, run_job, publish_top_items, ensure_requests
    report = run_job(JobSpec(ensure_requests("tiny"), "/tmp/scores",
                             model.registry_root, store_root=store.root))
    publish_top_items("/tmp/scores", store.online)    # precomputed slates per user

The brief is ``README.md`` next to this file; ``python -m labs.batch_serving.job
--help`` runs the job from a shell (on a cluster when ``RAY_ADDRESS`` is set).

The names below are imported on first use, not here: every Ray worker that
runs a function of this package imports the package, and a read task should
not pay for PyTorch and scikit-learn it never uses (see ``reader.py``).
"""

from __future__ import annotations

from common.lazy import lazy_exports

_EXPORTS = {
    "cluster": (
        "ActorPlan",
        "ClusterInfo",
        "alive_nodes",
        "connect_cluster",
        "plan_actors",
    ),
    "commit": (
        "CommitRecord",
        "OutputCommitter",
        "OutputInUse",
        "read_job",
        "read_manifest",
        "read_output",
    ),
    "job": ("CRASH_EXIT_CODE", "DiskFull", "Faults", "JobReport", "run_job"),
    "pipeline": (
        "PipelineConfig",
        "PipelineStats",
        "ScoredPartition",
        "check_exactly_once",
        "regroup",
        "score_partitions",
    ),
    "plan": ("JobPlan", "JobSpec", "plan_job"),
    "predictor": ("BatchPredictor",),
    "publish": ("PublishReport", "publish_top_items", "read_top_items", "top_items"),
    "requests": (
        "Partition",
        "ensure_requests",
        "list_partitions",
        "select_partitions",
        "shopstream_requests",
        "write_requests",
    ),
    "scorer": ("ActorFaults", "FeatureJoiner", "Scorer", "ScorerConfig"),
}
__getattr__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
