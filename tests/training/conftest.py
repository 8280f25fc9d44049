"""Fixtures for the training lab: the tiny training set, its split, trained models.

Everything expensive is built once per session: the point-in-time training
set (a second), the default model and the baseline (a few seconds). Ray
starts in the background as soon as the session knows it will run a Ray test,
so its start-up (seconds of processes and imports) overlaps the milestones
before m6; the Ray tests then share that one session (``ray_session``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from infra.rank_process import start_fork_server
from labs.training import (
    Preprocessor,
    Splits,
    TrainConfig,
    TrainingSet,
    TrainResult,
    fit,
    fit_baseline,
    load_training_set,
    time_split,
)

FRACTIONS = (0.7, 0.15, 0.15)
RAY_START_TIMEOUT_S = 120  # a loaded 2-core machine takes ~10 s


class BackgroundRay:
    """``init_ray()`` on a thread, so the session's Ray comes up while other tests run.

    The thread lives until :meth:`shutdown`: Ray starts its GCS and raylet with
    a parent-death signal, which Linux sends when the *thread* that started
    them exits, so a thread that returned after ``ray.init`` would kill them.
    """

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name="ray-session", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        import ray

        from infra.ray_session import init_ray, shutdown_ray

        try:
            init_ray()
        except BaseException as exc:  # re-raised in the test that needs Ray
            self.error = exc
        finally:
            self.ready.set()
        self.stop.wait()
        if ray.is_initialized():
            shutdown_ray()

    def wait(self) -> None:
        if not self.ready.wait(RAY_START_TIMEOUT_S):
            pytest.fail(f"Ray did not start within {RAY_START_TIMEOUT_S} s.")
        if self.error is not None:
            raise self.error

    def shutdown(self) -> None:
        self.stop.set()
        self.thread.join(RAY_START_TIMEOUT_S)


_RAY = pytest.StashKey[BackgroundRay]()


def _uses_ray(item: pytest.Item) -> bool:
    return "ray_session" in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)  # after deselection, and after the Ray lock is taken
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if config.option.collectonly or hasattr(config, "workerinput"):
        # An xdist worker collects every test but runs only some: Ray starts
        # there when a test asks for it (``ray_session``), not at collection.
        return
    if any(_uses_ray(item) for item in items) and _RAY not in config.stash:
        config.stash[_RAY] = BackgroundRay()
        config.add_cleanup(config.stash[_RAY].shutdown)
    if any(item.get_closest_marker("ranks") for item in items):
        start_fork_server()  # it imports torch in its own process while m1-m5 run


@pytest.fixture(scope="session")
def ray_session(pytestconfig: pytest.Config) -> Iterator[None]:
    """The session's local Ray, started in the background at collection."""
    if _RAY not in pytestconfig.stash:  # collected without the hook seeing it
        pytestconfig.stash[_RAY] = BackgroundRay()
        pytestconfig.add_cleanup(pytestconfig.stash[_RAY].shutdown)
    pytestconfig.stash[_RAY].wait()
    yield


@pytest.fixture(scope="session")
def tiny_set() -> TrainingSet:
    return load_training_set("tiny", seed=0)


@pytest.fixture(scope="session")
def splits(tiny_set: TrainingSet) -> Splits:
    return time_split(tiny_set.frame, FRACTIONS)


@pytest.fixture(scope="session")
def encoded(
    tiny_set: TrainingSet, splits: Splits
) -> tuple[Any, Any, tuple[int, int], TrainConfig]:
    """m6's rows: ``(train, valid, (users, items), config)``, encoded by the default config."""
    config = TrainConfig()
    prep = Preprocessor.fit(
        splits.train, tiny_set.features, tiny_set.defaults, config.min_count
    )
    train = prep.encode(splits.train, with_label=True)
    valid = prep.encode(splits.valid, with_label=True)
    return train, valid, (prep.users.size, prep.items.size), config


@pytest.fixture(scope="session")
def store() -> Any:
    from labs.feature_store import build_store

    opened = build_store("tiny", seed=0)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def trained(tiny_set: TrainingSet, splits: Splits) -> TrainResult:
    """The default config trained on tiny's time split."""
    return fit(
        splits.train, splits.valid, tiny_set.features, tiny_set.defaults, TrainConfig()
    )


@pytest.fixture(scope="session")
def baseline(tiny_set: TrainingSet, splits: Splits) -> Any:
    """The scikit-learn baseline fitted on tiny's training split."""
    return fit_baseline(splits.train, tiny_set.features, tiny_set.defaults)
