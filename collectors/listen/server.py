"""The listener: sockets, limits, and the way from a received record to ``{soc}:events``.

One asyncio loop on a thread of its own serves every configured protocol. Stores run on one
more thread, one batch at a time and in the order connections submit them, through the
collectors' :class:`~socbot.collectors.sink.EventSink` (Redis, or the spool while Redis is
away). A connection waits for its batch to be stored before it reads on, so events of one
sender stay in order, a Forward ``ack`` is sent only for stored events, and a sender faster
than Redis is slowed by TCP rather than by memory.

Limits: a cap on connections in all and per peer address, peers allowed by network, an idle
timeout per read, and caps on frame and body sizes. Whatever is refused is counted (``stats``
and the ``socbot_listen_refused`` metric) and said once per peer and reason in the log.

Example::

    listener = Listener(sink, Intake(), ListenCollector(syslog_tcp="127.0.0.1:6514"))
    addresses = listener.start()      # {"syslog_tcp": ("127.0.0.1", 6514)}
    ...
    listener.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import socket
import ssl
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import msgpack

from socbot.collectors.base import BadRecord, encode_event
from socbot.collectors.listen import forward
from socbot.collectors.listen.framing import FrameError, SyslogFramer
from socbot.collectors.listen.intake import Intake
from socbot.collectors.sink import Batch, EventSink
from socbot.collectors.spool import NOT_STORED
from socbot.core import metrics
from socbot.core.config import ListenCollector, host_port
from socbot.core.events import Event

log = logging.getLogger(__name__)

__all__ = ["PROTOCOLS", "Listener", "addresses"]

Item = Event | BadRecord | None
# A refused TLS 1.3 client certificate can leave asyncio's handshake waiting; bound it.
HANDSHAKE_TIMEOUT_S = 10.0
PROTOCOLS = ("syslog_tcp", "syslog_tls", "syslog_udp", "forward", "http")


BATCH = 500  # UDP datagrams stored per commit at most


def addresses(config: ListenCollector) -> dict[str, str]:
    """The protocols ``config`` switches on, with their ``HOST:PORT``."""
    return {name: getattr(config, name) for name in PROTOCOLS if getattr(config, name)}


class Listener:
    """Serves the protocols of ``options`` (the ``collectors.listen`` section) until
    :meth:`close`; the Forward shared key and the HTTP token come from the environment."""

    def __init__(self, sink: EventSink, intake: Intake, options: ListenCollector, *,
                 shared_key: str = "", http_token: str = "",
                 stop: threading.Event | None = None) -> None:
        if not addresses(options):
            raise ValueError("nothing to listen on: give at least one address "
                             "(collectors.listen.syslog_tcp, forward, http, ...)")
        if options.syslog_tls and not (options.tls_cert and options.tls_key):
            raise ValueError("syslog over TLS needs collectors.listen.tls_cert and tls_key")
        if options.http and not http_token:
            raise ValueError("the HTTP intake needs a bearer token: set SOCBOT_LISTEN_TOKEN")
        self.sink, self.intake, self.options = sink, intake, options
        self.shared_key, self.http_token = shared_key, http_token
        self.server_name = socket.gethostname()
        self.stop = stop or threading.Event()
        self.networks = [ipaddress.ip_network(n, strict=False) for n in options.allowed_peers]
        self.stats: Counter[str] = Counter()
        self.bound: dict[str, tuple[str, int]] = {}
        self._peers: Counter[str] = Counter()
        self._said: set[tuple[str, str]] = set()
        self._store = ThreadPoolExecutor(1, thread_name_prefix="listen-store")
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.AbstractServer] = []
        self._transports: list[asyncio.BaseTransport] = []
        self._thread: threading.Thread | None = None
        self._tls_context = self._tls() if options.syslog_tls else None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> dict[str, tuple[str, int]]:
        """Bind every configured address and serve in the background; return the bound ones."""
        ready: asyncio.Future[None] = self._loop.create_future()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._bind(ready))
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="listen", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._wait(ready), self._loop).result(30)
        return dict(self.bound)

    async def _wait(self, ready: asyncio.Future[None]) -> None:
        await ready

    def close(self) -> None:
        """Stop accepting, close connections, wait for stores in progress."""
        self.stop.set()
        if self._thread is None:
            return

        async def shut() -> None:
            for server in self._servers:
                server.close()
            for transport in self._transports:
                transport.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=5)

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._store.shutdown(wait=True)
        self._loop.close()
        self._thread = None

    async def _bind(self, ready: asyncio.Future[None]) -> None:
        try:
            o = self.options
            handlers: dict[str, Callable[..., object]] = {
                "syslog_tcp": self._syslog,
                "forward": self._forward, "http": self._http_connection}
            for name, address in addresses(o).items():
                host, port = host_port(address, f"collectors.listen.{name}")
                if name == "syslog_udp":
                    transport, _ = await self._loop.create_datagram_endpoint(
                        lambda: _Datagrams(self), local_addr=(host, port))
                    self._transports.append(transport)
                    self.bound[name] = transport.get_extra_info("sockname")[:2]
                    continue
                if name == "syslog_tls":
                    server = await self._loop.create_server(
                        lambda: _TLSGate(self), host, port, backlog=512)
                else:
                    server = await asyncio.start_server(
                        functools.partial(self._serve, name, handlers[name]),
                        host, port, backlog=512, limit=o.max_frame_bytes + 64)
                self._servers.append(server)
                self.bound[name] = server.sockets[0].getsockname()[:2]
            ready.set_result(None)
        except BaseException as exc:
            ready.set_exception(exc)

    def _tls(self) -> ssl.SSLContext:
        o = self.options
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(o.tls_cert, o.tls_key)
        if o.tls_client_ca:
            context.load_verify_locations(o.tls_client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    # -- admission ---------------------------------------------------------------------------

    def _refuse(self, protocol: str, peer: str, reason: str) -> None:
        self.stats[f"refused.{reason}"] += 1
        metrics.listen_refused(protocol, reason)
        if (peer, reason) not in self._said:
            self._said.add((peer, reason))
            log.warning("%s: refused %s (%s); further refusals of this peer for this reason "
                        "are only counted", protocol, peer, reason)

    def _allowed(self, peer: str) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def _serve(self, protocol: str, handler: Callable[..., object],
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer.get_extra_info("peername"))
        o = self.options
        reason = None
        if not self._allowed(peer):
            reason = "peer_not_allowed"
        elif sum(self._peers.values()) >= o.max_connections:
            reason = "too_many_connections"
        elif self._peers[peer] >= o.max_connections_per_peer:
            reason = "too_many_connections_from_peer"
        if reason is not None:
            self._refuse(protocol, peer, reason)
            writer.close()
            return
        self._peers[peer] += 1
        self.stats[f"{protocol}.connections"] += 1
        try:
            await handler(protocol, peer, reader, writer)  # type: ignore[misc]
        except (FrameError, msgpack.BufferFull, msgpack.ExtraData, msgpack.FormatError,
                msgpack.StackError, forward.ForwardError, ValueError) as exc:
            self._refuse(protocol, peer, "bad_frame")
            log.debug("%s from %s: %s", protocol, peer, exc)
        except TimeoutError:
            self._refuse(protocol, peer, "idle_timeout")
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._peers[peer] -= 1
            if not self._peers[peer]:
                del self._peers[peer]
            writer.close()
            # A TLS peer that never answers close_notify must not hold the task.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)

    async def _chunks(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            data = await asyncio.wait_for(reader.read(65536), self.options.idle_timeout_s)
            if not data:
                return
            yield data

    # -- storing -----------------------------------------------------------------------------

    async def commit(self, protocol: str, items: Iterable[Item]) -> int:
        """Store ``items`` (waiting while neither Redis nor the spool can); the events sent."""
        batch = Batch()
        events = 0
        for item in items:
            if item is None:
                batch.counts["secure.ignored"] = batch.counts.get("secure.ignored", 0) + 1
            elif isinstance(item, BadRecord):
                batch.dead.append(item.dead_letter(f"listen.{protocol}"))
                batch.counts["listen.failed"] = batch.counts.get("listen.failed", 0) + 1
            else:
                batch.events.append(encode_event(item))
                key = f"{item.get('event.dataset', 'unknown')}.parsed"
                batch.counts[key] = batch.counts.get(key, 0) + 1
                events += 1
        if not batch.events and not batch.dead and not batch.counts:
            return 0
        await self._loop.run_in_executor(self._store, self._send, batch)
        self.stats[f"{protocol}.events"] += events
        self.stats[f"{protocol}.failed"] += len(batch.dead)
        return events

    def _send(self, batch: Batch) -> None:
        while True:
            try:
                self.sink.send(batch)
                return
            except NOT_STORED as exc:
                log.warning("events held until Redis or the spool takes them: %s", exc)
                if self.stop.wait(1.0):
                    raise ConnectionError("stopping with events not stored") from exc

    # -- syslog ------------------------------------------------------------------------------

    async def _syslog(self, protocol: str, peer: str, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        framer = SyslogFramer(self.options.max_frame_bytes)
        async for data in self._chunks(reader):
            frames = framer.feed(data)
            if frames:
                await self.commit(protocol, (self.intake.from_syslog(
                    frame.decode("utf-8", "replace"), peer, where=protocol) for frame in frames))

    async def _tls_accept(self, transport: asyncio.Transport, gate: _TLSGate) -> None:
        # The handshake runs here, not in the server, so that a refused certificate is counted
        # and logged like every other refusal.
        peer = _peer(transport.get_extra_info("peername"))
        if not self._allowed(peer):
            self._refuse("syslog_tls", peer, "peer_not_allowed")
            transport.close()
            return
        assert self._tls_context is not None
        try:
            tls = await asyncio.wait_for(
                self._loop.start_tls(transport, gate, self._tls_context, server_side=True),
                min(self.options.idle_timeout_s, HANDSHAKE_TIMEOUT_S))
        except (ssl.SSLError, TimeoutError) as exc:
            self._refuse("syslog_tls", peer, "tls_handshake")
            log.debug("TLS handshake with %s failed: %s", peer, exc)
            transport.close()
            return
        except (ConnectionError, OSError):
            transport.close()  # the peer went away before the handshake: nothing refused
            return
        if tls is None:
            transport.close()
            return
        reader = asyncio.StreamReader(limit=self.options.max_frame_bytes + 64, loop=self._loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=self._loop)
        tls.set_protocol(protocol)
        protocol.connection_made(tls)
        for data in gate.early:  # application data that came with the handshake's end
            reader.feed_data(data)
        if gate.eof:
            reader.feed_eof()
        writer = asyncio.StreamWriter(tls, protocol, reader, self._loop)
        await self._serve("syslog_tls", self._syslog, reader, writer)

    # -- Forward -----------------------------------------------------------------------------

    async def _forward(self, protocol: str, peer: str, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        o = self.options
        stream = forward.unpacker(o.max_frame_bytes)
        chunks = self._chunks(reader)
        if self.shared_key:
            handshake = forward.Handshake(self.shared_key, self.server_name)
            writer.write(handshake.helo())
            ping = None
            async for data in chunks:
                stream.feed(data)
                ping = next(stream, None)
                if ping is not None:
                    break
            ok, pong = handshake.answer(ping)
            writer.write(pong)
            await writer.drain()
            if not ok:
                self._refuse(protocol, peer, "bad_shared_key")
                return
        while True:
            for message in stream:
                tag, entries, option = forward.entries(message, o.max_frame_bytes)
                await self.commit(protocol, (self.intake.from_record(
                    tag, time, record, peer, where=protocol) for time, record in entries))
                if "chunk" in option:
                    writer.write(forward.ack(option["chunk"]))
                    await writer.drain()
            try:
                data = await chunks.__anext__()
            except StopAsyncIteration:
                return
            stream.feed(data)

    # -- HTTP --------------------------------------------------------------------------------

    async def _http_connection(self, protocol: str, peer: str, reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
        from socbot.collectors.listen.http import serve_http

        await serve_http(self, peer, reader, writer)


class _TLSGate(asyncio.Protocol):
    """A new TLS connection before its handshake: reading is paused at once so that no byte
    of the client's hello reaches anything but the TLS layer, then the handshake runs."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.early: list[bytes] = []
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        self.task = asyncio.ensure_future(self.listener._tls_accept(transport, self))

    def data_received(self, data: bytes) -> None:
        self.early.append(data)

    def eof_received(self) -> bool:
        self.eof = True
        return False


class _Datagrams(asyncio.DatagramProtocol):
    """Syslog over UDP: one message per datagram, stored in small batches."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.pending: list[Item] = []
        self.flushing: asyncio.Task[int] | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        listener = self.listener
        peer = _peer(addr)
        if not listener._allowed(peer):
            listener._refuse("syslog_udp", peer, "peer_not_allowed")
            return
        if len(data) > listener.options.max_frame_bytes:
            listener._refuse("syslog_udp", peer, "bad_frame")
            return
        self.pending.append(listener.intake.from_syslog(
            data.decode("utf-8", "replace"), peer, where="syslog_udp"))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> int:
        stored = 0
        await asyncio.sleep(0.02)  # let a burst gather into one batch
        while self.pending:
            items, self.pending = self.pending[:BATCH], self.pending[BATCH:]
            stored += await self.listener.commit("syslog_udp", items)
        return stored


def _peer(address: object) -> str:
    if isinstance(address, tuple | list) and address:
        host = str(address[0])
        if host.startswith("::ffff:") and "." in host:
            return host.removeprefix("::ffff:")
        return host
    return "unix"
