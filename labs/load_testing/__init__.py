"""Lab 5, load testing: locust, open-loop load, the capacity knee, design comparisons.

The brief is ``README.md``. Public API:

- ``workload``: :class:`Workload` (ShopStream-shaped requests), ``weighted_draw``,
  ``hot_key_weights``.
- ``locust_run``: :func:`run_locust` (locust headless in its own process),
  :func:`parse_locust_csv`, :class:`LocustStats`. (``locustfile.py`` is run by
  locust only: never import it.)
- ``openloop``: :func:`arrival_schedule` and the open-loop generator's process.
- ``openloop_run``: :func:`run_open_loop` (that generator in its own process),
  :class:`OpenLoopResult`.
- ``capacity``: :func:`capacity_sweep`, :func:`find_knee`, :func:`littles_law_error`,
  :func:`time_average_in_flight`, :class:`Step`, :class:`Sweep`.
- ``variants``: :class:`Variant`, :func:`serving_variants`, :func:`variant_overrides`,
  :func:`compare_variants`.
- ``report``: :func:`replicas_needed`, :func:`saturation`, :func:`write_report`.
"""

from __future__ import annotations

from common.lazy import lazy_exports

# Names resolve lazily, so that ``python -m labs.load_testing.openloop`` (the
# load generator's own process) starts without importing pandas or matplotlib.
_EXPORTS = {
    "capacity": [
        "LITTLE_TOLERANCE", "Step", "Sweep", "capacity_sweep", "find_knee",
        "littles_law_error", "probe_capacity", "step_from", "time_average_in_flight",
    ],
    "locust_run": ["LocustError", "LocustStats", "parse_locust_csv", "run_locust"],
    "openloop": ["arrival_schedule"],
    "openloop_run": ["OpenLoopResult", "run_open_loop"],
    "report": ["replicas_needed", "saturation", "write_report"],
    "variants": [
        "Comparison", "Outcome", "Variant", "compare_variants", "serving_variants",
        "start_plain", "start_variant_for", "variant_overrides",
    ],
    "workload": ["Workload", "hot_key_weights", "weighted_draw"],
}  # fmt: skip
__getattr__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
