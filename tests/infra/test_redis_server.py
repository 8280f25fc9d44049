"""The private redis-server starts on loopback with persistence off and stops."""

import pytest

pytestmark = pytest.mark.redis


def test_private_server_answers_and_has_persistence_off(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url)
    assert client.ping()
    assert client.config_get("save")["save"] == ""
    assert client.config_get("appendonly")["appendonly"] == "no"
    assert redis_server.url.startswith("redis://127.0.0.1:")
    client.close()


def test_stop_kills_exactly_the_started_process(redis_available):
    from infra.redis_server import start_redis

    server = start_redis()
    pid, workdir = server.process.pid, server.workdir
    server.stop()
    assert not server.process.alive()
    assert workdir is not None and not workdir.exists()  # its temp dir is removed too
    import os

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_port_someone_else_listens_on_is_never_taken_for_ours(
    redis_available, monkeypatch
):
    """Another listener on the chosen port accepts connections too: not a start."""
    import socket

    import redis

    from infra import redis_server
    from infra.ports import HOST, free_port

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        holder.listen()
        taken = holder.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(
            redis_server, "free_port", lambda: next(ports, None) or free_port()
        )
        server = redis_server.start_redis()
        try:
            assert server.port != taken
            client = redis.Redis.from_url(server.url)
            assert client.ping()
            client.close()
        finally:
            server.stop()
        with pytest.raises(redis_server.PortTaken, match="Address already in use"):
            redis_server.start_redis(port=taken)
