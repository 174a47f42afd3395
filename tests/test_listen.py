"""socbot collect listen: agents' syslog, Forward and HTTP into {soc}:events, through real peers
(Debian's rsyslogd, fluent-logger's Forward client) and hand-built frames."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest
import redis
from fluent import sender
from listen_peers import ForwardClient, Rsyslog, make_pki, need_rsyslog
from own_redis import OwnRedis

from socbot.collectors.listen.intake import Intake, Router
from socbot.collectors.listen.server import Listener
from socbot.collectors.sink import EventSink
from socbot.core.config import ListenCollector
from socbot.core.events import loads
from socbot.core.streams import DEAD_LETTERS, EVENTS

PROJECT = Path(__file__).resolve().parents[1]
LINE = "Failed password for invalid user u{i} from 192.0.2.{h} port {p} ssh2"
Start = Callable[..., Listener]


def syslog3164(i: int, host: str = "web1") -> bytes:
    return (f"<38>Dec  2 21:00:{i % 60:02d} {host} sshd[{100 + i}]: "
            + LINE.format(i=i, h=i % 250, p=1000 + i)).encode()


def events(client: redis.Redis) -> list[dict[str, object]]:
    return [loads(fields[b"e"]) for _, fields in client.xrange(EVENTS)]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def start(redis_client: redis.Redis) -> Iterator[Start]:
    made: list[Listener] = []

    def start(client: redis.Redis | None = None, intake: Intake | None = None,
              shared_key: str = "", http_token: str = "", **options: object) -> Listener:
        listener = Listener(EventSink(client or redis_client, "listen-test"),
                            intake or Intake(), ListenCollector.model_validate(options),
                            shared_key=shared_key, http_token=http_token)
        listener.start()
        made.append(listener)
        return listener

    yield start
    for listener in made:
        listener.close()


# --- syslog -------------------------------------------------------------------------------------

def test_syslog_tcp_takes_octet_counted_and_newline_framed_messages_in_order(
        start: Start, redis_client: redis.Redis) -> None:
    listener = start(syslog_tcp="127.0.0.1:0")
    with socket.create_connection(listener.bound["syslog_tcp"]) as conn:
        for i in range(200):
            frame = syslog3164(i)
            conn.sendall(b"%d %s" % (len(frame), frame) if i % 2 else frame + b"\n")
        rfc5424 = (b"<38>1 2026-12-02T21:00:01.5Z db1 sshd 77 - - "
                   + LINE.format(i=999, h=9, p=9).encode())
        conn.sendall(b"%d %s" % (len(rfc5424), rfc5424))
    wait_for(lambda: redis_client.xlen(EVENTS) == 201)
    got = events(redis_client)
    assert [e["user.name"] for e in got] == [f"u{i}" for i in range(200)] + ["u999"]
    assert got[0]["host.name"] == "web1" and got[-1]["host.name"] == "db1"
    assert got[-1]["@timestamp"] == "2026-12-02T21:00:01.500000Z"
    assert len({e["event.id"] for e in got}) == 201


def test_a_pinned_peer_cannot_speak_for_another_host(start: Start,
                                                       redis_client: redis.Redis) -> None:
    intake = Intake(peer_names={"127.0.0.1": "bastion"})
    listener = start(intake=intake, syslog_tcp="127.0.0.1:0")
    with socket.create_connection(listener.bound["syslog_tcp"]) as conn:
        conn.sendall(syslog3164(1, host="payments-db") + b"\n")
    wait_for(lambda: redis_client.xlen(EVENTS) == 1)
    [event] = events(redis_client)
    assert event["host.name"] == "bastion"
    assert event["log.syslog.hostname"] == "payments-db"


def test_syslog_udp_and_a_bad_message_set_aside(start: Start, redis_client: redis.Redis) -> None:
    listener = start(syslog_udp="127.0.0.1:0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(syslog3164(5), listener.bound["syslog_udp"])
        udp.sendto(b"no header here: Accepted password for root from 10.66.66.66 port 22",
                   listener.bound["syslog_udp"])
    wait_for(lambda: redis_client.xlen(EVENTS) == 1 and redis_client.xlen(DEAD_LETTERS) == 1)
    [dead] = [fields for _, fields in redis_client.xrange(DEAD_LETTERS)]
    assert b"no syslog header" in dead[b"error"]
    assert dead[b"source"] == b"listen.syslog_udp"


def test_rsyslog_forwards_over_tcp_with_octet_counting(start: Start, tmp_path: Path,
                                                       redis_client: redis.Redis) -> None:
    need_rsyslog()
    listener = start(syslog_tcp="127.0.0.1:0")
    host, port = listener.bound["syslog_tcp"]
    peer = Rsyslog(tmp_path, f'action(type="omfwd" target="{host}" port="{port}" '
                             'protocol="tcp" TCP_Framing="octet-counted" '
                             'template="RSYSLOG_SyslogProtocol23Format")')
    try:
        for i in range(50):
            peer.log(f"<38>Dec  2 21:00:01 sshd[{i + 10}]: " + LINE.format(i=i, h=i, p=i))
        wait_for(lambda: redis_client.xlen(EVENTS) == 50, timeout=30)
    finally:
        peer.stop()
    got = events(redis_client)
    assert [e["user.name"] for e in got] == [f"u{i}" for i in range(50)]
    assert {e["process.name"] for e in got} == {"sshd"}
    assert got[3]["source.ip"] == "192.0.2.3"


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    return make_pki(tmp_path)


def tls_options(pki: dict[str, Path]) -> dict[str, object]:
    return {"syslog_tls": "127.0.0.1:0", "tls_cert": str(pki["server"]),
            "tls_key": str(pki["server-key"]), "tls_client_ca": str(pki["ca"])}


def test_rsyslog_forwards_over_tls_with_the_deploy_snippet(
        start: Start, tmp_path: Path, pki: dict[str, Path], redis_client: redis.Redis) -> None:
    need_rsyslog(tls=True)
    listener = start(**tls_options(pki))
    port = listener.bound["syslog_tls"][1]
    snippet = (PROJECT / "deploy" / "agents" / "rsyslog-socbot.conf").read_text()
    for placeholder, value in (("SOCBOT_HOST", "localhost"), ('port="6514"', f'port="{port}"'),
                               ("/etc/socbot/ca.pem", str(pki["ca"])),
                               ("/etc/socbot/client.pem", str(pki["client"])),
                               ("/etc/socbot/client.key", str(pki["client-key"]))):
        assert placeholder in snippet
        snippet = snippet.replace(placeholder, value)
    peer = Rsyslog(tmp_path, snippet)
    try:
        for i in range(20):  # facility auth, as sshd logs
            peer.log(f"<38>Dec  2 21:00:01 sshd[{i + 10}]: " + LINE.format(i=i, h=i, p=i))
        peer.log("<14>Dec  2 21:00:01 cron[5]: not an auth message, not forwarded")
        wait_for(lambda: redis_client.xlen(EVENTS) == 20, timeout=30)
    finally:
        peer.stop()
    assert [e["user.name"] for e in events(redis_client)] == [f"u{i}" for i in range(20)]
    assert redis_client.hget("{soc}:stats:parse", "secure.ignored") is None


def test_tls_refuses_a_client_certificate_from_another_ca(
        start: Start, pki: dict[str, Path], redis_client: redis.Redis) -> None:
    listener = start(**tls_options(pki), idle_timeout_s=2)
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    context.load_cert_chain(str(pki["rogue-client"]), str(pki["rogue-client-key"]))
    try:
        with socket.create_connection(listener.bound["syslog_tls"], timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="localhost") as conn:
            conn.sendall(syslog3164(1) + b"\n")
            # TLS 1.3 reports the refused certificate on the first read, or just closes.
            refused = conn.recv(1) == b""
    except (ssl.SSLError, ConnectionError):
        refused = True
    assert refused
    good = ssl.create_default_context(cafile=str(pki["ca"]))
    good.load_cert_chain(str(pki["client"]), str(pki["client-key"]))
    with socket.create_connection(listener.bound["syslog_tls"]) as raw, \
            good.wrap_socket(raw, server_hostname="localhost") as conn:
        conn.sendall(syslog3164(2) + b"\n")
    wait_for(lambda: redis_client.xlen(EVENTS) == 1)
    assert [e["user.name"] for e in events(redis_client)] == ["u2"]
    wait_for(lambda: listener.stats["refused.tls_handshake"] >= 1)


# --- Forward ------------------------------------------------------------------------------------

def secure_record(i: int) -> dict[str, object]:
    return {"ident": "sshd", "pid": str(200 + i), "host": "app1",
            "message": LINE.format(i=i, h=i % 250, p=i)}


def test_fluent_loggers_forward_client_delivers_each_record_once_in_order(
        start: Start, redis_client: redis.Redis) -> None:
    listener = start(forward="127.0.0.1:0")
    host, port = listener.bound["forward"]
    client = sender.FluentSender("host", host=host, port=port)
    for i in range(100):
        assert client.emit_with_time("secure", 1764709200 + i, secure_record(i)), client.last_error
    client.close()
    wait_for(lambda: redis_client.xlen(EVENTS) == 100)
    got = events(redis_client)
    assert [e["user.name"] for e in got] == [f"u{i}" for i in range(100)]
    assert got[1]["@timestamp"] == "2025-12-02T21:00:01Z"
    assert got[1]["host.name"] == "app1" and got[1]["process.pid"] == 201


def event_time(seconds: int, nanoseconds: int = 0) -> msgpack.ExtType:
    return msgpack.ExtType(0, struct.pack(">II", seconds, nanoseconds))


def test_every_forward_mode_is_read_and_acked_after_it_is_stored(
        start: Start, redis_client: redis.Redis) -> None:
    listener = start(forward="127.0.0.1:0")
    client = ForwardClient(listener.bound["forward"])
    t = 1764709200
    packed = b"".join(msgpack.packb([event_time(t, 5), secure_record(i)], use_bin_type=True)
                      for i in range(10, 13))
    modes = [
        ["h.secure", event_time(t), secure_record(0), {"chunk": "c-message"}],
        ["h.secure", [[t, secure_record(i)] for i in range(1, 4)], {"chunk": "c-forward"}],
        ["h.secure", packed, {"chunk": "c-packed", "size": 3}],
        ["h.secure", gzip.compress(packed), {"chunk": "c-gzip", "compressed": "gzip"}],
    ]
    acks = []
    for message in modes:
        client.send(message)
        acks.append(client.read())
        # The ack comes after the entry's events are in the stream.
        assert redis_client.xlen(EVENTS) == sum(1 if isinstance(m[1], msgpack.ExtType) else 3
                                                for m in modes[:len(acks)])
    client.close()
    assert acks == [{"ack": c} for c in ("c-message", "c-forward", "c-packed", "c-gzip")]
    assert [e["user.name"] for e in events(redis_client)] == \
        ["u0", "u1", "u2", "u3", "u10", "u11", "u12", "u10", "u11", "u12"]


def test_forward_routes_cloudtrail_and_door_tags_to_their_parsers(
        start: Start, redis_client: redis.Redis, shared_data: Path) -> None:
    listener = start(intake=Intake(Router({"badge.*": "door:kisi"})), forward="127.0.0.1:0")
    client = ForwardClient(listener.bound["forward"])
    record = {"eventVersion": "1.08", "eventID": "e-1", "eventTime": "2026-12-02T21:00:00Z",
              "eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com",
              "sourceIPAddress": "198.51.100.7", "awsRegion": "us-east-1",
              "userIdentity": {"type": "IAMUser", "userName": "ann"}}
    client.send(["aws.cloudtrail", 1764709200, record, {"chunk": "a"}])
    assert client.read() == {"ack": "a"}
    client.send(["badge.hq", 1764709200, {"not": "a kisi event"}, {"chunk": "b"}])
    assert client.read() == {"ack": "b"}
    client.close()
    [event] = events(redis_client)
    assert event["event.dataset"] == "cloudtrail" and event["user.name"] == "ann"
    [dead] = [fields for _, fields in redis_client.xrange(DEAD_LETTERS)]
    assert dead[b"source"] == b"listen.forward"


def test_forward_shared_key_handshake(start: Start, redis_client: redis.Redis) -> None:
    listener = start(forward="127.0.0.1:0", shared_key="s3cret")
    good = ForwardClient(listener.bound["forward"], shared_key="s3cret")
    assert good.pong is not None and good.pong[1] is True
    good.send(["h.secure", 1764709200, secure_record(1), {"chunk": "x"}])
    assert good.read() == {"ack": "x"}
    good.close()
    bad = ForwardClient(listener.bound["forward"], shared_key="guess")
    assert bad.pong is not None and bad.pong[1] is False and "shared_key" in bad.pong[2]
    with pytest.raises((ConnectionError, OSError)):  # noqa: PT012
        bad.send(["h.secure", 1764709200, secure_record(2)])
        bad.read(timeout=2)
    assert [e["user.name"] for e in events(redis_client)] == ["u1"]
    assert listener.stats["refused.bad_shared_key"] == 1


def test_acks_are_withheld_while_redis_is_down_and_nothing_is_lost(
        start: Start, own_redis: OwnRedis) -> None:
    client_redis = redis.Redis.from_url(own_redis.url, socket_timeout=2,
                                        socket_connect_timeout=1)
    listener = start(client=client_redis, forward="127.0.0.1:0")
    agent = ForwardClient(listener.bound["forward"])
    agent.send(["h.secure", [[1764709200, secure_record(i)] for i in range(5)], {"chunk": "1"}])
    assert agent.read() == {"ack": "1"}
    own_redis.kill()
    agent.send(["h.secure", [[1764709200, secure_record(i)] for i in range(5, 10)],
                {"chunk": "2"}])
    with pytest.raises(TimeoutError):
        agent.read(timeout=1.5)  # not stored, so not acknowledged
    own_redis.start()
    assert agent.read(timeout=15) == {"ack": "2"}
    agent.close()
    got = events(redis.Redis.from_url(own_redis.url))
    assert [e["user.name"] for e in got] == [f"u{i}" for i in range(10)]


# --- HTTP ---------------------------------------------------------------------------------------

def post(listener: Listener, path: str, body: bytes, token: str | None = "t0k",
         **headers: str) -> tuple[int, dict[str, object]]:
    host, port = listener.bound["http"]
    request = urllib.request.Request(f"http://{host}:{port}{path}", data=body, method="POST",
                                     headers={**({"Authorization": f"Bearer {token}"}
                                                 if token else {}), **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_http_json_lines_arrays_and_gzip(start: Start, redis_client: redis.Redis) -> None:
    listener = start(http="127.0.0.1:0", http_token="t0k")
    lines = "\n".join(json.dumps({"date": 1764709200.5, "log":
                                  f"Dec  2 21:00:01 h{i} sshd[7]: " + LINE.format(i=i, h=i, p=i)})
                      for i in range(3)) + "\n{not json\n"
    assert post(listener, "/secure", lines.encode()) == (200, {"stored": 3, "failed": 1})
    array = json.dumps([{"message": LINE.format(i=9, h=9, p=9), "host": "vec1",
                         "program": "sshd", "timestamp": "2026-12-02T21:00:00Z"}]).encode()
    assert post(listener, "/secure", gzip.compress(array), **{"Content-Encoding": "gzip"}) == \
        (200, {"stored": 1, "failed": 0})
    got = events(redis_client)
    assert [e["user.name"] for e in got] == ["u0", "u1", "u2", "u9"]
    assert got[3]["host.name"] == "vec1" and got[3]["@timestamp"] == "2026-12-02T21:00:00Z"
    assert redis_client.xlen(DEAD_LETTERS) == 1


def test_http_refuses_without_the_token_and_over_the_size_cap(
        start: Start, redis_client: redis.Redis) -> None:
    listener = start(http="127.0.0.1:0", http_token="t0k", max_frame_bytes=4096)
    body = json.dumps({"log": "Dec  2 21:00:01 h sshd[7]: " + LINE.format(i=1, h=1, p=1)})
    assert post(listener, "/secure", body.encode(), token=None)[0] == 401
    assert post(listener, "/secure", body.encode(), token="wrong")[0] == 401
    assert post(listener, "/secure", b"[" + b" " * 5000 + b"]")[0] == 413
    assert redis_client.xlen(EVENTS) == 0
    assert listener.stats["refused.bad_token"] == 2 and listener.stats["refused.too_large"] == 1


# --- hostile peers ------------------------------------------------------------------------------

def test_hostile_peers_are_refused_without_affecting_other_senders(
        start: Start, redis_client: redis.Redis) -> None:
    listener = start(syslog_tcp="127.0.0.1:0", forward="127.0.0.1:0", max_frame_bytes=4096,
                     idle_timeout_s=1, max_connections=50, max_connections_per_peer=40)
    address = listener.bound["syslog_tcp"]
    # An oversized octet count, an endless line, an oversized Forward frame.
    with socket.create_connection(address) as big:
        big.sendall(b"999999 <38>x")
        assert big.recv(1) == b""  # closed by the server
    with socket.create_connection(address) as endless, \
            pytest.raises((ConnectionError, OSError)):  # noqa: PT012
        for _ in range(100):
            endless.sendall(b"A" * 1024)
            time.sleep(0.001)
        endless.recv(1)
    with socket.create_connection(listener.bound["forward"]) as huge:
        huge.sendall(msgpack.packb(["t", 1, {"message": "x" * 10000}]))
        assert huge.recv(1) == b""
    # Idle connections up to the cap: the cap refuses more, the idle ones time out.
    idle = [socket.create_connection(address) for _ in range(45)]
    wait_for(lambda: listener.stats["refused.too_many_connections_from_peer"] >= 5)
    # A well-behaved sender still gets through once the idle ones are timed out.
    wait_for(lambda: listener.stats["refused.idle_timeout"] >= 40)
    with socket.create_connection(address) as good:
        good.sendall(syslog3164(7) + b"\n")
    wait_for(lambda: redis_client.xlen(EVENTS) == 1)
    for conn in idle:
        conn.close()
    assert listener.stats["refused.bad_frame"] >= 3
    assert [e["user.name"] for e in events(redis_client)] == ["u7"]


def test_listener_needs_an_address_and_an_http_token() -> None:
    client = redis.Redis()
    with pytest.raises(ValueError, match="nothing to listen on"):
        Listener(EventSink(client, "x"), Intake(), ListenCollector())
    with pytest.raises(ValueError, match="SOCBOT_LISTEN_TOKEN"):
        Listener(EventSink(client, "x"), Intake(), ListenCollector(http="127.0.0.1:0"))
