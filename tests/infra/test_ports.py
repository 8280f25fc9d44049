"""Free ports: several at once are all different, and a cluster never reuses one."""

from __future__ import annotations

import re
import socket

from infra import ray_cluster
from infra.ports import HOST, free_ports


def test_ports_chosen_together_are_different_and_each_can_be_bound() -> None:
    ports = free_ports(64)
    assert len(set(ports)) == 64, sorted(ports)
    for port in ports[:8]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, port))  # free: nothing kept it


def test_ports_to_avoid_are_not_returned() -> None:
    first = free_ports(32)
    again = free_ports(32, avoid=first)
    assert not set(first) & set(again)


def test_every_node_of_a_cluster_gets_ports_no_other_listener_has() -> None:
    given = {1234}
    flags = [flag for _ in range(5) for flag in ray_cluster._node_ports(given)]
    ports = [int(re.fullmatch(r"--[a-z-]+-port=(\d+)", f)[1]) for f in flags]
    assert len(ports) == 30 and len(set(ports)) == 30, flags
    assert 1234 not in ports and set(ports) <= given
