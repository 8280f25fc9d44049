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
    redis_available, first_free_port_taken
):
    """Another listener on the chosen port accepts connections too: not a start."""
    import redis

    from infra.redis_server import PortTaken, start_redis

    server = start_redis()
    try:
        assert server.port != first_free_port_taken
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.close()
    finally:
        server.stop()
    with pytest.raises(PortTaken, match="Address already in use"):
        start_redis(port=first_free_port_taken)
