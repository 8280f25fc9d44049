"""One rank process of a :class:`~infra.torch_dist.RankGroup` (the child side).

Forked by a fork server that has already imported torch (so a rank starts
in a tenth of a second, not the second or two an ``import torch`` costs),
never started by hand. :func:`child_main` takes its own process group,
sends its output to its log file and takes the parent's environment; then
it connects back to the parent on 127.0.0.1 and runs the parent's commands
in order until told to exit or until the parent goes away:

- ``run``: join the process group the command names (gloo, ``tcp://`` on
  127.0.0.1 at the command's port, ``world_size`` ranks; a new port or size
  means a new group), import ``module:function``, call it with the spec, and
  send back its return value or its traceback.
- ``exit``: leave the process group and end.

``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``
are set as ``torchrun`` sets them, so code written for ``torchrun`` runs here
unchanged. A watchdog ends the process when its parent (the fork server,
which ends with the process that started it) dies, so a killed test run
leaves no rank behind.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
import threading
import time
import traceback
from datetime import timedelta
from typing import Any

from infra.torch_wire import receive, send

PARENT_POLL_S = 0.5  # how often the watchdog looks for its parent


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:  # re-parented: whoever started us is gone
            os._exit(3)


def resolve(target: str) -> Any:
    """The function ``module:function`` names."""
    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"a rank target is 'module:function', got {target!r}.")
    return getattr(importlib.import_module(module), name)


class _Membership:
    """The process group this rank is in now, replaced when a command names another."""

    def __init__(self, slot: int):
        self.slot = slot
        self.current: tuple[int, int] | None = None  # (port, world_size)

    def join(self, port: int, world_size: int, timeout_s: float) -> None:
        import torch.distributed as dist

        if self.current == (port, world_size) and dist.is_initialized():
            return
        self.leave()
        os.environ.update(
            RANK=str(self.slot),
            LOCAL_RANK=str(self.slot),
            WORLD_SIZE=str(world_size),
            LOCAL_WORLD_SIZE=str(world_size),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=self.slot,
            world_size=world_size,
            timeout=timedelta(seconds=timeout_s),
        )
        self.current = (port, world_size)

    def leave(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
        self.current = None


def child_main(
    slot: int, control: str, token: str, env: dict[str, str], log_path: str
) -> None:
    """A rank's life, in a process forked by the fork server (see the module docstring)."""
    from infra.rank_process import take_on_caller

    os.setsid()  # its own process group: the parent stops exactly it
    take_on_caller(env, log_path, append=True)
    for entry in reversed(env.get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    sys.exit(_serve(slot, control, token))


def _serve(slot: int, control_address: str, token: str) -> int:
    import torch

    torch.set_num_threads(1)  # N ranks share the machine's cores
    host, _, port = control_address.rpartition(":")
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    control = socket.create_connection((host, int(port)), timeout=30)
    control.settimeout(None)
    send(control, ("hello", slot, os.getpid(), token))
    membership = _Membership(slot)
    try:
        while True:
            message = receive(control)
            if message is None or message[0] == "exit":
                membership.leave()
                return 0
            command: dict[str, Any] = message[1]
            try:
                membership.join(
                    command["port"], command["world_size"], command["pg_timeout_s"]
                )
                value = resolve(command["target"])(command["spec"])
                reply: tuple[str, Any] = ("ok", value)
            except BaseException:  # the parent reports it, with this rank's number
                reply = ("error", traceback.format_exc())
                membership.current = None  # rejoin afresh: peers may be mid-collective
            try:
                send(control, reply)
            except (TypeError, AttributeError, ValueError) as exc:  # not picklable
                send(control, ("error", f"the result could not be sent back: {exc}"))
    finally:
        control.close()
