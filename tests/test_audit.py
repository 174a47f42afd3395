"""Audit: the Redis stream, fluentd over the forward protocol with a spool, tail and export."""

from __future__ import annotations

import io
import json
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis

from socbot.bot.cli.audit import export, parse_time, read, register, tail
from socbot.core import audit as audit_module
from socbot.core.audit import audit
from socbot.core.auditforward import FluentForwarder
from socbot.core.streams import AUDIT


class ForwardReceiver:
    """A fluentd stand-in: accepts the forward protocol (Message, Forward and PackedForward
    modes, msgpack over TCP on loopback), records ``(tag, time, record)`` and, as fluentd's
    in_forward does, answers ``{"ack": chunk}`` to a message whose option names a chunk."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[tuple[str, float, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self._conns: list[socket.socket] = []
        receiver = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                receiver._conns.append(self.request)
                unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext)
                while True:
                    try:
                        data = self.request.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    unpacker.feed(data)
                    for message in unpacker:
                        receiver._accept(message)
                        option = _option(message)
                        if isinstance(option, dict) and "chunk" in option:
                            self.request.sendall(msgpack.packb({"ack": option["chunk"]}))

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def _accept(self, message: list[Any]) -> None:
        tag, second = message[0], message[1]
        if isinstance(second, list):  # Forward mode: [[time, record], ...]
            entries = [(t, r) for t, r in second]
        elif isinstance(second, bytes):  # PackedForward: a stream of [time, record]
            entries = [(t, r) for t, r in msgpack.Unpacker(io.BytesIO(second), raw=False,
                                                            ext_hook=_ext)]
        else:  # Message mode: tag, time, record
            entries = [(second, message[2])]
        with self._cond:
            self.received += [(tag, float(t), r) for t, r in entries]
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= count, timeout)
            return [record for _tag, _t, record in self.received]

    def stop(self) -> None:
        """Stop listening and drop every connection, as a fluentd that goes away."""
        self.server.shutdown()
        self.server.server_close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            except OSError:
                pass


def _option(message: list[Any]) -> Any:
    """The option map of a forward-protocol message, if it has one."""
    if len(message) == 4:  # Message mode: tag, time, record, option
        return message[3]
    if len(message) == 3 and isinstance(message[1], list | bytes):  # (Packed)Forward mode
        return message[2]
    return None


class SilentReceiver:
    """A fluentd that accepts connections and then never reads from them nor answers (hung,
    or its buffer full): what the kernel buffers is all that is "sent"."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def stop(self) -> None:
        """Die: every connection is reset, unread data and all."""
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        for conn in self.accepted:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()


def _ext(code: int, data: bytes) -> Any:
    if code == 0:  # EventTime: seconds and nanoseconds, big-endian
        seconds, nanos = struct.unpack(">II", data)
        return seconds + nanos / 1e9
    return msgpack.ExtType(code, data)


@pytest.fixture
def receiver() -> Iterator[ForwardReceiver]:
    server = ForwardReceiver()
    yield server
    server.stop()


@pytest.fixture
def forwarder(receiver: ForwardReceiver, tmp_path: Path) -> Iterator[FluentForwarder]:
    shipper = FluentForwarder("127.0.0.1", receiver.port, spool=tmp_path / "spool.jsonl",
                              timeout_s=1.0, retry_after_s=0.0)
    audit_module.configure(shipper)
    yield shipper
    audit_module.configure(None)
    shipper.close()


def test_an_entry_goes_to_the_stream_and_to_fluentd(
        redis_client: redis.Redis, receiver: ForwardReceiver,
        forwarder: FluentForwarder) -> None:
    entry_id = audit(redis_client, who="U1", what="approve", alert_id="A1", action_id="X1",
                     result="approved", at=1763892000.25)
    [(stream_id, fields)] = redis_client.xrange(AUDIT)
    assert stream_id.decode() == entry_id
    assert fields[b"what"] == b"approve"
    [record] = receiver.wait_for(1)
    assert receiver.received[0][0] == "socbot.audit"
    assert receiver.received[0][1] == pytest.approx(1763892000.25, abs=1e-3)
    assert record == {"who": "U1", "what": "approve", "alert_id": "A1", "action_id": "X1",
                      "result": "approved", "at": "1763892000.250", "id": entry_id,
                      "@timestamp": "2025-11-23T10:00:00.250Z"}


def test_entries_are_spooled_while_fluentd_is_down_and_resent_in_order(
        redis_client: redis.Redis, receiver: ForwardReceiver,
        forwarder: FluentForwarder) -> None:
    audit(redis_client, who="U1", what="step-0")
    receiver.wait_for(1)
    receiver.stop()
    for n in range(1, 4):
        audit(redis_client, who="U1", what=f"step-{n}")
    assert forwarder.spooled() == 3
    spooled = [json.loads(line)["record"]["what"]
               for line in forwarder.spool.read_text().splitlines()]
    assert spooled == ["step-1", "step-2", "step-3"]
    assert redis_client.xlen(AUDIT) == 4  # the stream has everything meanwhile

    back = ForwardReceiver(receiver.port)  # fluentd returns on the same address
    try:
        audit(redis_client, who="U1", what="step-4")
        got = back.wait_for(4)
        assert [r["what"] for r in got] == ["step-1", "step-2", "step-3", "step-4"]
        assert forwarder.spooled() == 0
    finally:
        back.stop()


def test_a_fluentd_that_never_acknowledges_loses_nothing(redis_client: redis.Redis,
                                                         tmp_path: Path) -> None:
    silent = SilentReceiver()
    shipper = FluentForwarder("127.0.0.1", silent.port, spool=tmp_path / "s.jsonl",
                              timeout_s=0.5, retry_after_s=60)
    sent = [shipper.send({"what": f"w{n}"}, at=1763892000.0 + n) for n in range(200)]
    silent.stop()  # it dies holding whatever it was given
    assert sum(sent) == 0  # nothing counts as sent without an acknowledgement
    assert shipper.spooled() == 200
    back = ForwardReceiver(silent.port)
    try:
        assert shipper.flush() == 200
        got = back.wait_for(200)
        assert [r["what"] for r in got] == [f"w{n}" for n in range(200)]
    finally:
        back.stop()
        shipper.close()


def test_with_the_delivery_loop_a_hung_fluentd_never_holds_up_the_caller(
        tmp_path: Path) -> None:
    silent = SilentReceiver()
    shipper = FluentForwarder("127.0.0.1", silent.port, spool=tmp_path / "s.jsonl",
                              timeout_s=0.5, retry_after_s=60)
    callers: list[str] = []
    real = shipper.client.send

    def send(tag: str, entries: Any) -> None:
        callers.append(threading.current_thread().name)
        real(tag, entries)

    shipper.client.send = send  # type: ignore[method-assign]
    stop = threading.Event()
    loop = threading.Thread(target=shipper.run_retries, args=(stop, 0.05), name="audit-loop",
                            daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 5
        while not shipper._loop.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        for n in range(50):
            assert shipper.send({"what": f"w{n}"}, at=1763892000.0 + n) is False
        while not callers and time.monotonic() < deadline:
            time.sleep(0.01)
        assert callers and set(callers) == {"audit-loop"}  # the network, only from the loop
        silent.stop()
        assert shipper.spooled() == 50
        back = ForwardReceiver(silent.port)
        try:
            assert shipper.flush() == 50
            assert [r["what"] for r in back.wait_for(50)] == [f"w{n}" for n in range(50)]
        finally:
            back.stop()
    finally:
        stop.set()
        loop.join(5)
        shipper.close()


def test_the_delivery_loop_sends_new_entries_at_once(receiver: ForwardReceiver,
                                                      tmp_path: Path) -> None:
    shipper = FluentForwarder("127.0.0.1", receiver.port, spool=tmp_path / "s.jsonl")
    stop = threading.Event()
    loop = threading.Thread(target=shipper.run_retries, args=(stop, 3600.0), daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 5
        while not shipper._loop.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        for n in range(3):
            shipper.send({"what": f"w{n}"}, at=1763892000.0 + n)
        assert [r["what"] for r in receiver.wait_for(3)] == ["w0", "w1", "w2"]
    finally:
        stop.set()
        loop.join(5)
        shipper.close()


def test_the_retry_loop_resends_the_spool_without_new_entries(
        redis_client: redis.Redis, receiver: ForwardReceiver,
        forwarder: FluentForwarder) -> None:
    receiver.stop()
    audit(redis_client, who="U2", what="ack", alert_id="A9")
    assert forwarder.spooled() == 1
    back = ForwardReceiver(receiver.port)
    stop = threading.Event()
    thread = threading.Thread(target=forwarder.run_retries, args=(stop, 0.05), daemon=True)
    thread.start()
    try:
        [record] = back.wait_for(1)
        assert record["alert_id"] == "A9"
    finally:
        stop.set()
        thread.join(5)
        back.stop()
    assert forwarder.spooled() == 0


def test_a_dead_fluentd_is_not_retried_on_every_entry(redis_client: redis.Redis,
                                                      tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens on this port now
    shipper = FluentForwarder("127.0.0.1", port, spool=tmp_path / "s.jsonl",
                              retry_after_s=60)
    attempts = []
    real = shipper.client.send
    shipper.client.send = lambda tag, entries: (attempts.append(1), real(tag, entries))  # type: ignore
    for n in range(5):
        assert shipper.send({"what": f"w{n}"}, at=time.time()) is False
    assert len(attempts) == 1
    assert shipper.spooled() == 5


def test_forwarding_is_configured_from_the_environment(tmp_path: Path) -> None:
    assert FluentForwarder.from_env({}, tmp_path) is None
    shipper = FluentForwarder.from_env({"FLUENTD_HOST": "fluentd"}, tmp_path)
    assert shipper is not None and (shipper.host, shipper.port) == ("fluentd", 24224)
    assert shipper.spool == tmp_path / "audit-fluentd.jsonl"
    with pytest.raises(ValueError, match="FLUENTD_PORT='x' is not a port"):
        FluentForwarder.from_env({"FLUENTD_HOST": "f", "FLUENTD_PORT": "x"}, tmp_path)


def test_a_broken_forwarder_never_stops_the_audit(redis_client: redis.Redis) -> None:
    class Broken(FluentForwarder):
        def __init__(self) -> None:
            pass

        def send(self, record: Any, at: float) -> bool:
            raise RuntimeError("disk full")

    audit_module.configure(Broken())
    try:
        assert audit(redis_client, who="U1", what="ack")
    finally:
        audit_module.configure(None)
    assert redis_client.xlen(AUDIT) == 1


def test_tail_prints_the_newest_and_follows(redis_client: redis.Redis) -> None:
    audit_module.configure(None)
    for n in range(5):
        audit(redis_client, who="U1", what=f"w{n}")
    out = io.StringIO()
    assert tail(redis_client, out, count=2) == 2
    assert [json.loads(line)["what"] for line in out.getvalue().splitlines()] == ["w3", "w4"]

    out, stop = io.StringIO(), threading.Event()
    thread = threading.Thread(target=tail, args=(redis_client, out),
                              kwargs={"count": 0, "follow": True, "stop": stop,
                                      "block_ms": 50}, daemon=True)
    thread.start()
    time.sleep(0.2)
    audit(redis_client, who="U1", what="later")
    deadline = time.monotonic() + 5
    while "later" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(5)
    assert [json.loads(line)["what"] for line in out.getvalue().splitlines()] == ["later"]


def test_export_selects_a_time_range_as_jsonl_or_csv(redis_client: redis.Redis) -> None:
    audit_module.configure(None)
    base = int(time.time() * 1000) - 10_000
    for n, what in enumerate(["old", "inside", "=cmd|' /C calc'!A0"]):
        redis_client.xadd(AUDIT, {"who": "U1", "what": what, "at": f"{(base + n * 1000) / 1000}"},
                          id=f"{base + n * 1000}-0")
    out = io.StringIO()
    assert export(redis_client, out, since=(base + 500) / 1000) == 2
    assert [json.loads(line)["what"] for line in out.getvalue().splitlines()] == [
        "inside", "=cmd|' /C calc'!A0"]
    csv_out = io.StringIO()
    export(redis_client, csv_out, since=(base + 500) / 1000, until=(base + 1500) / 1000,
           fmt="csv")
    lines = csv_out.getvalue().splitlines()
    assert lines[0] == "id,@timestamp,who,what,alert_id,action_id,result"
    assert len(lines) == 2 and ",inside," in lines[1]
    csv_all = io.StringIO()
    export(redis_client, csv_all, fmt="csv")
    assert "'=cmd" in csv_all.getvalue()  # a formula is neutralised for spreadsheets


def test_read_pages_through_long_streams(redis_client: redis.Redis) -> None:
    for n in range(25):
        redis_client.xadd(AUDIT, {"what": f"w{n}"})
    assert [e["what"] for e in read(redis_client, page=10)] == [f"w{n}" for n in range(25)]


def test_times_accept_iso_epoch_and_ages() -> None:
    assert parse_time("2025-11-23T10:00:00Z") == 1763892000
    assert parse_time("1763892000") == 1763892000
    assert parse_time("24h", now=1763892000) == 1763892000 - 86400
    with pytest.raises(ValueError, match="such as 24h or 7d"):
        parse_time("yesterday")


def test_the_cli_registers_tail_and_export() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["audit", "export", "--since", "7d", "--format", "csv"])
    assert (args.format, args.since) == ("csv", "7d")
    assert parser.parse_args(["audit", "tail", "-n", "5", "-f"]).follow is True
