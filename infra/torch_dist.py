"""N ``torch.distributed`` ranks (gloo, 127.0.0.1) as local processes, and a function run on each.

    with RankGroup.start(4) as ranks:                 # four processes, started once
        out = ranks.run("labs.distributed_training.collectives:ring_on_rank",
                        {"numel": 1001}, world_size=3, timeout_s=10)   # ranks 0..2
        out[1]                                        # what rank 1 returned

A group starts its processes once (importing torch costs each one a second
or two of CPU) and keeps them: every :meth:`RankGroup.run` sends the first
``world_size`` of them a ``module:function`` and a spec, and they join a
gloo process group on a fresh free port when the size changes, so one group
serves world sizes 1 to N for a whole test session. Ranks are forked from a
fork server that imported torch once (:mod:`infra.rank_process`; a script
that starts a group guards its entry point with ``if __name__ ==
"__main__":``) and run :func:`infra.torch_rank.child_main`.

Every wait is bounded. A run that does not finish within ``timeout_s`` (a
collective waiting for a peer that never sends), a rank that raises, or a
rank process that dies, raises :class:`RanksTimedOut`, :class:`RankFailed`
or :class:`RankDied` naming the rank, its pid and its traceback or output;
the group then stops every rank it started (stragglers too) and starts fresh
ones on the next run. :meth:`RankGroup.close` stops them all, by pid.

:func:`infra.torch_elastic.run_elastic` restarts a job whose rank failed,
as ``torchrun --max-restarts`` does.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.module_process import child_pythonpath
from infra.ports import HOST, free_port
from infra.rank_process import RankProcess
from infra.torch_wire import receive, send

START_TIMEOUT_S = 90.0  # N interpreters importing torch on a busy 2-core machine
FAILED_PEERS_GRACE_S = 2.0  # after one rank fails, how long the others get to report


class RankError(RuntimeError):
    """A run on a rank group did not complete on every rank."""


class PortInUse(RankError, ValueError):
    """The master port asked for is taken; nothing was started."""


class RankFailed(RankError):
    """A rank raised; ``traceback`` is its traceback."""

    def __init__(self, rank: int, pid: int, traceback: str, note: str = ""):
        super().__init__(f"rank {rank} (pid {pid}) raised{note}:\n{traceback.rstrip()}")
        self.rank, self.pid, self.traceback = rank, pid, traceback


class RankDied(RankError):
    """A rank's process ended without answering (killed, or crashed)."""

    def __init__(self, rank: int, pid: int, returncode: int | None, output: str):
        super().__init__(
            f"rank {rank} (pid {pid}) died with exit code {returncode} before "
            f"answering; its last output:\n{output}"
        )
        self.rank, self.pid, self.returncode = rank, pid, returncode


class RanksTimedOut(RankError):
    """Some ranks did not answer within the run's time bound."""

    def __init__(self, target: str, waiting: dict[int, int], timeout_s: float):
        names = ", ".join(f"rank {r} (pid {p})" for r, p in sorted(waiting.items()))
        super().__init__(
            f"{names} did not finish {target} within {timeout_s:g} s, so every rank "
            "was stopped. A rank blocked in send/recv or a collective whose peer "
            "never takes part hangs: check that every rank makes the same calls, "
            "in the same order, with matching sizes."
        )
        self.waiting = waiting


def check_port_free(port: int) -> None:
    """Raise :class:`PortInUse` unless ``port`` can be bound on 127.0.0.1."""
    if not 0 < port < 65536:
        raise PortInUse(f"master port must be in 1..65535, got {port}.")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise PortInUse(
                f"port {port} on {HOST} is already in use ({exc.strerror}); pick "
                "another master port, or pass none to get a free one."
            ) from exc


@dataclass
class _Rank:
    process: RankProcess
    conn: socket.socket | None = None


@dataclass
class RankGroup:
    """``slots`` rank processes; :meth:`run` uses the first ``world_size``."""

    slots: int
    env: dict[str, str] = field(default_factory=dict)
    pg_timeout_s: float = 30.0  # gloo's own bound on one collective
    spawned: list[int] = field(default_factory=list)  # every pid ever started
    _ranks: list[_Rank] = field(default_factory=list)
    _group: tuple[int, int] | None = None  # (port, world_size) the ranks are in
    _log_dir: Path | None = None

    @classmethod
    def start(
        cls,
        slots: int,
        *,
        env: Mapping[str, str] | None = None,
        pg_timeout_s: float = 30.0,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> RankGroup:
        """Start ``slots`` rank processes and wait until each has connected back."""
        if not 1 <= slots <= 64:
            raise ValueError(f"a rank group has 1..64 ranks, got {slots}.")
        group = cls(slots, dict(env or {}), pg_timeout_s)
        group._spawn(start_timeout_s)
        return group

    def __enter__(self) -> RankGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        """The pids of the rank processes running now."""
        return [r.process.pid for r in self._ranks]

    def run(
        self,
        target: str,
        spec: Any = None,
        *,
        world_size: int | None = None,
        timeout_s: float = 30.0,
        master_port: int | None = None,
    ) -> list[Any]:
        """Call ``target(spec)`` on ranks ``0..world_size-1``; their return values.

        Args:
            target: ``"module:function"``, importable in the rank processes.
            spec: the function's one argument (picklable).
            world_size: how many ranks take part (default: all slots).
            timeout_s: the longest the run may take on any rank.
            master_port: the process group's port (default: a free one).

        Raises:
            PortInUse: ``master_port`` is taken (checked before anything runs).
            RankFailed, RankDied, RanksTimedOut: see the module docstring.
        """
        size = self.slots if world_size is None else world_size
        if not 1 <= size <= self.slots:
            raise ValueError(
                f"world_size must be in 1..{self.slots} for this group, got {size}."
            )
        if master_port is not None:
            check_port_free(master_port)
        if not self._ranks:
            self._spawn(START_TIMEOUT_S)
        if master_port is not None or self._group is None or self._group[1] != size:
            self._group = (master_port or free_port(), size)
        command = {
            "target": target,
            "spec": spec,
            "world_size": size,
            "port": self._group[0],
            "pg_timeout_s": self.pg_timeout_s,
        }
        for rank in self._ranks[:size]:
            assert rank.conn is not None
            send(rank.conn, ("run", command))
        return self._collect(target, size, timeout_s)

    def close(self) -> None:
        """Ask every rank to leave, then stop each one's process group by pid."""
        for rank in self._ranks:
            if rank.conn is not None:
                with contextlib.suppress(OSError):
                    send(rank.conn, ("exit",))
        deadline = time.monotonic() + 2.0
        for rank in self._ranks:
            left = max(0.0, deadline - time.monotonic())
            rank.process.wait(left)
            rank.process.stop(grace_s=1.0)
            if rank.conn is not None:
                rank.conn.close()
        self._ranks, self._group = [], None
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    # -- internals -----------------------------------------------------------

    def _spawn(self, timeout_s: float) -> None:
        self._log_dir = Path(tempfile.mkdtemp(prefix="labkit-ranks-"))
        token = secrets.token_hex(16)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.bind((HOST, 0))
            listener.listen(self.slots)
            env = {**os.environ, **self.env}
            env.update(PYTHONPATH=child_pythonpath(env), OMP_NUM_THREADS="1")
            self._ranks = []
            control = f"{HOST}:{listener.getsockname()[1]}"
            for slot in range(self.slots):
                log = self._log_dir / f"rank-{slot}.log"
                process = RankProcess(slot, control, token, env, log)
                self.spawned.append(process.pid)
                self._ranks.append(_Rank(process))
            try:
                self._accept(listener, token, timeout_s)
            except BaseException:
                self.close()
                raise

    def _accept(self, listener: socket.socket, token: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while any(r.conn is None for r in self._ranks):
            for slot, rank in enumerate(self._ranks):
                if rank.conn is None and not rank.process.alive():
                    raise RankDied(
                        slot,
                        rank.process.pid,
                        rank.process.returncode,
                        rank.process.log_tail(),
                    )
            left = deadline - time.monotonic()
            if left <= 0:
                missing = {
                    s: r.process.pid for s, r in enumerate(self._ranks) if not r.conn
                }
                raise RanksTimedOut("start-up", missing, timeout_s)
            listener.settimeout(min(left, 0.5))
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5.0)
            hello = receive(conn)
            if not hello or hello[0] != "hello" or hello[3] != token:
                conn.close()  # not one of ours
                continue
            conn.settimeout(None)
            self._ranks[hello[1]].conn = conn

    def _collect(self, target: str, size: int, timeout_s: float) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        values: dict[int, Any] = {}
        errors: dict[int, str] = {}
        died: list[int] = []
        waiting: dict[int, socket.socket] = {}
        for r in range(size):
            conn = self._ranks[r].conn
            assert conn is not None  # every rank connected in _accept
            waiting[r] = conn
        first_failure: float | None = None
        while waiting:
            if (
                first_failure is not None
                and time.monotonic() > first_failure + FAILED_PEERS_GRACE_S
            ):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select(list(waiting.values()), [], [], min(left, 0.2))
            for conn in ready:
                rank = next(r for r, c in waiting.items() if c is conn)
                del waiting[rank]
                conn.settimeout(max(1.0, deadline - time.monotonic()))
                try:
                    reply = receive(conn)
                except (OSError, EOFError):
                    reply = None
                conn.settimeout(None)
                if reply is None:
                    died.append(rank)
                elif reply[0] == "ok":
                    values[rank] = reply[1]
                    continue
                else:
                    errors[rank] = reply[1]
                if first_failure is None:
                    first_failure = time.monotonic()
        if not errors and not died and not waiting:
            return [values[r] for r in range(size)]
        failure = self._failure(target, died, errors, waiting, timeout_s)
        if died or waiting:  # stragglers may be stuck in a collective: stop them all
            self.close()
        else:
            self._group = None  # everyone answered: rejoin a fresh group next time
        raise failure

    def _failure(
        self,
        target: str,
        died: list[int],
        errors: dict[int, str],
        waiting: Mapping[int, Any],
        timeout_s: float,
    ) -> RankError:
        if died:  # the root cause: the others fail because their peer vanished
            rank = self._ranks[died[0]].process
            rank.wait(2.0)
            return RankDied(died[0], rank.pid, rank.returncode, rank.log_tail())
        if errors:
            first = min(errors)
            others = sorted(set(errors) - {first})
            note = f" in {target}" + (f" (ranks {others} raised too)" if others else "")
            return RankFailed(
                first, self._ranks[first].process.pid, errors[first], note
            )
        return RanksTimedOut(
            target, {r: self._ranks[r].process.pid for r in waiting}, timeout_s
        )


def launch(
    target: str,
    spec: Any = None,
    *,
    world_size: int,
    timeout_s: float = 60.0,
    master_port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Any]:
    """Start ``world_size`` ranks, run ``target(spec)`` on each, stop them all.

    ``master_port`` is checked before any process starts.
    """
    if master_port is not None:
        check_port_free(master_port)
    with RankGroup.start(world_size, env=env) as group:
        return group.run(target, spec, timeout_s=timeout_s, master_port=master_port)


@contextmanager
def rank_group(slots: int, **options: Any) -> Iterator[RankGroup]:
    """A :class:`RankGroup` for the duration of a block, always closed."""
    group = RankGroup.start(slots, **options)
    try:
        yield group
    finally:
        group.close()
