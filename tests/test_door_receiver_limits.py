"""The door receiver against replays across restarts and receivers, idle and piled-up
connections (issue 12, finding 4 and side findings), over real HTTP and a real Redis."""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from socbot.collectors.door.webhook import SIGNATURE, TIMESTAMP, DoorServer, make_server, sign
from socbot.collectors.sink import EventSink
from socbot.core.config import DoorCollector
from socbot.core.streams import EVENTS

SECRET = b"door-shared-secret"
BODY = json.dumps({"uuid": "k-replay", "type": "lock.unlock", "actor_name": "Dana Scully",
                   "object_name": "Server room", "success": True,
                   "created_at": "2026-11-23T03:12:09Z"}).encode()

Start = Callable[..., DoorServer]


@pytest.fixture
def start(redis_client: redis.Redis) -> Iterator[Start]:
    servers: list[DoorServer] = []

    def run(**settings: object) -> DoorServer:
        config = DoorCollector(**{"signature_tolerance_s": 60, **settings})  # type: ignore[arg-type]
        server = make_server(("127.0.0.1", 0), EventSink(redis_client, "door-limits"),
                             secret=SECRET, settings=config)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield run
    for server in servers:
        stop(server)


def stop(server: DoorServer) -> None:
    server.shutdown()
    server.server_close()


def address(server: DoorServer) -> tuple[str, int]:
    return server.server_address[:2]  # type: ignore[return-value]


def post(server: DoorServer, headers: dict[str, str], body: bytes = BODY) -> int:
    conn = http.client.HTTPConnection(*address(server), timeout=10)
    conn.request("POST", "/door/kisi", body=body, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def signed(body: bytes = BODY) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {TIMESTAMP: stamp, SIGNATURE: sign(SECRET, stamp, body)}


def test_a_request_replayed_after_a_restart_is_refused(
        start: Start, redis_client: redis.Redis) -> None:
    first = start()
    captured = signed()
    assert post(first, captured) == 200
    stop(first)
    assert post(start(), captured) == 401  # a new process: nothing in its memory
    assert redis_client.xlen(EVENTS) == 1


def test_a_request_replayed_to_a_second_receiver_is_refused(
        start: Start, redis_client: redis.Redis) -> None:
    one, two = start(), start()
    captured = signed()
    assert post(one, captured) == 200
    assert post(two, captured) == 401
    assert redis_client.xlen(EVENTS) == 1


def test_the_replay_mark_expires_with_the_window(start: Start,
                                                 redis_client: redis.Redis) -> None:
    post(start(), signed())
    [key] = redis_client.keys("{soc}:door:replay:*")
    assert 0 < redis_client.ttl(key) <= 2 * 60


def test_idle_connections_are_closed(start: Start) -> None:
    server = start(idle_timeout_s=1)
    idle = [socket.create_connection(address(server), timeout=10) for _ in range(20)]
    for sock in idle:
        assert sock.recv(1) == b""  # closed by the server, not by our 10 s timeout
        sock.close()


def test_connections_over_the_cap_are_refused_and_the_cap_frees_up(start: Start) -> None:
    server = start(idle_timeout_s=2, max_connections=4)
    idle = [socket.create_connection(address(server), timeout=10) for _ in range(4)]
    time.sleep(0.2)  # let the server accept them
    extra = socket.create_connection(address(server), timeout=10)
    answer = extra.recv(200)
    assert answer.startswith(b"HTTP/1.1 503")
    extra.close()
    for sock in idle:
        assert sock.recv(1) == b""
        sock.close()
    deadline = time.monotonic() + 10
    while server.connections_open() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert post(server, signed()) == 200


def test_listen_backlog_is_the_configured_one(start: Start) -> None:
    assert start().request_queue_size == DoorCollector().backlog >= 128
    assert start(backlog=512).request_queue_size == 512


def test_a_request_dribbled_byte_by_byte_is_cut_at_the_request_timeout(start: Start) -> None:
    server = start(idle_timeout_s=1, request_timeout_s=2)
    sock = socket.create_connection(address(server), timeout=10)
    sock.sendall(b"POST /door/kisi HTTP/1.1\r\nX-Slow: ")
    closed = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a byte every 0.3 s: never idle for 1 s
        ready, _, _ = select.select([sock], [], [], 0.3)
        if ready:
            closed = sock.recv(100) == b""
            break
        try:
            sock.sendall(b"x")
        except OSError:
            closed = True
            break
    sock.close()
    assert closed
