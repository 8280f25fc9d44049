"""Flame graphs of /score under load: the ranking service beside the peer app.

    python -m labs.online_serving.flame                   # results/online_serving/flame
    python -m labs.online_serving.flame --seconds 12 --out /tmp/flames

Each server runs as in ``labkit bench online_serving`` (one uvicorn worker on
core 0, the closed-loop generator on core 1, 32 connections, the ``small``
preset) and is sampled by py-spy (``infra.sampler``) while it serves:

- ``service.svg``: the kit's service, batching on, metrics on;
- ``peer.svg``: FastAPI and an MLP behind a minimal batcher
  (``infra/peer_model_app.py``), what a candidate would write instead;

with ``service.txt`` and ``peer.txt``, the folded stacks behind each graph.
The command prints the functions with the largest share of each server's
samples. A profiled server is slower (py-spy pauses it to read its stacks):
the throughput printed is for reading the graphs, not a benchmark figure.

Open an SVG in a browser and hover a box for its share. The lab
page (README, "Where the time goes, in flame graphs") reads two of them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from common.paths import results_dir
from infra.apps import PEER_BATCHED_APP
from infra.cpus import SERVER_CPU, pin
from infra.flame_svg import flame_svg
from infra.sampler import folded_shares, package_shares, sampling
from infra.uvicorn_server import running_uvicorn
from labs.online_serving import measure
from labs.online_serving.bench import BATCHING, CONCURRENCY
from labs.online_serving.settings import Settings

WARMUP_S = 1.0


def profile(
    url: str, pid: int, out: Path, payloads: list[Any], seconds: float
) -> float:
    """Load ``url``'s /score for ``seconds`` while sampling ``pid``; requests/s served."""
    load = measure.Load(
        seconds + 1.5, WARMUP_S, max_requests=5_000_000, concurrency=CONCURRENCY
    )
    folded = out.with_suffix(".txt")
    with sampling(pid, folded, seconds):
        result = load(url, "/score", payloads)
    title = (
        f"{out.stem}: POST /score, {CONCURRENCY} connections, "
        f"{result.ok_rps:,.0f} requests/s while sampled"
    )
    out.write_text(flame_svg(folded.read_text(), title=title))
    return result.ok_rps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.online_serving.flame")
    parser.add_argument("--seconds", type=float, default=8.0, help="sampled per server")
    parser.add_argument("--out", type=Path, default=None, help="the folder to write")
    args = parser.parse_args(argv)
    out = args.out or results_dir() / "online_serving" / "flame"
    from labs.training import ensure_production_model

    model = ensure_production_model("small")
    payloads = measure.score_payloads("small", 4000)
    knobs: dict[str, Any] = {  # as the bench's batched /score
        "preset": "small",
        "registry_root": model.registry_root,
        **BATCHING["on"],
    }
    settings = Settings(**knobs)
    with measure.serving(settings) as (server,):
        rps = profile(
            server.url, server.process.pid, out / "service.svg", payloads, args.seconds
        )
        print(f"service: {rps:,.0f} requests/s while sampled -> {out / 'service.svg'}")
    with running_uvicorn(PEER_BATCHED_APP) as peer:
        pin(peer.process.pid, SERVER_CPU)
        rps = profile(
            peer.url, peer.process.pid, out / "peer.svg", payloads, args.seconds
        )
        print(f"peer:    {rps:,.0f} requests/s while sampled -> {out / 'peer.svg'}")
    for name in ("service", "peer"):
        folded = out / f"{name}.txt"
        print(f"\n{name}: where the samples were, by package (its own code)")
        for package, share in package_shares(folded):
            if share >= 0.005:
                print(f"  {share:6.1%}  {package}")
        print(f"{name}: the widest functions (inclusive, below the trunk)")
        for function, share in folded_shares(folded, top=25):
            print(f"  {share:6.1%}  {function}")


if __name__ == "__main__":
    main()
