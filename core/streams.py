"""Redis stream helpers: a trimming producer and an at-least-once consumer-group loop.

Every stage of the pipeline reads one stream with a consumer group, so a stage can run as many
processes on many machines. The loop below keeps the guarantees the pipeline depends on:

* an entry is acknowledged (XACK) only after its handler returned;
* entries left pending by a consumer that died are reclaimed with XAUTOCLAIM once idle;
* an entry delivered more than ``max_deliveries`` times goes to the dead-letter stream with
  the handler's error, so one poison entry never blocks a stage;
* handlers are expected to be idempotent by the entry's own id (event, alert or action id),
  because an entry can be delivered more than once.

Example::

    producer = Producer(redis)
    producer.add(EVENTS, {"e": dumps(event)})

    def handle(entry_id: str, fields: dict[str, str]) -> None:
        ...

    Consumer(redis, EVENTS, "detect", "worker-1", handle).run(stop)
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from socbot.core.keys import ACTIONS, ALERTS, AUDIT, DEAD_LETTERS, EVENTS
from socbot.core.redisconn import UNAVAILABLE
from socbot.core.scriptcalls import own_pool

__all__ = ["ACTIONS", "ALERTS", "AUDIT", "DEAD_LETTERS", "EVENTS", "Consumer", "ConsumerStats",
           "BatchHandler", "Fields", "Handler", "Producer", "consumer_name", "decode",
           "decode_fields",
           "ensure_group", "entries", "read_reply", "texts"]

log = logging.getLogger(__name__)

Fields = dict[str, str]
Handler = Callable[[str, Fields], None]
# What redis-py hands back for a reply, whether the client decodes responses or not.
Reply = bytes | str | int | float
RawFields = Mapping[bytes | str, bytes | str]
# An entry as redis-py parses it (fields in a mapping) or as RESP2 sends it (a flat list).
RawEntry = tuple[bytes | str | None, RawFields | Sequence[bytes | str] | None]
# Handles a batch of entries at once; returns the error of each entry that failed (the others
# succeeded). Raising fails the whole batch.
BatchHandler = Callable[[list[tuple[str, Fields]]], Mapping[str, Exception]]


def consumer_name(role: str) -> str:
    """A consumer name unique to this process: role, host and pid."""
    return f"{role}-{socket.gethostname()}-{os.getpid()}"


def decode(value: Reply) -> str:
    """A Redis reply as text, whether the client decodes responses or not.

    The one place socbot turns replies into text: every reader goes through this,
    :func:`decode_fields` or :func:`entries`.
    """
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_fields(raw: RawFields) -> Fields:
    """A stream entry's (or hash's) fields as text."""
    return {decode(k): decode(v) for k, v in raw.items()}


def texts(reply: Iterable[object]) -> list[str]:
    """A flat list reply (LRANGE, ZRANGE without scores, SMEMBERS, ...) as text."""
    out = []
    for item in reply:
        if not isinstance(item, bytes | str | int | float):
            raise TypeError(f"expected a flat list reply, got a {type(item).__name__} in it")
        out.append(decode(item))
    return out


def read_reply(reply: object) -> list[tuple[str, list[tuple[str, Fields]]]]:
    """An XREAD/XREADGROUP reply as ``(stream, entries)`` pairs of text.

    redis-py gives ``[[stream, entries], ...]`` (RESP2's shape, which it also makes of RESP3's
    map); a reply read off a connection (:meth:`Consumer._read_ahead_reply`) comes as Redis
    sent it: that list in RESP2, ``{stream: entries}`` in RESP3 (redis-py 8's default), each
    entry's fields a flat list. An entry trimmed away while pending comes back without fields
    and is left out.
    """
    if isinstance(reply, Mapping):
        reply = list(reply.items())
    batches = cast("list[tuple[bytes | str, list[RawEntry]]]", reply or [])
    return [(decode(stream), entries(batch)) for stream, batch in batches]


def entries(reply: Sequence[RawEntry] | None) -> list[tuple[str, Fields]]:
    """An XRANGE/XREVRANGE reply as ``(entry id, fields)`` pairs of text, oldest (or newest)
    first as Redis gave them; entries without an id or fields (trimmed away) are left out.
    Fields come as redis-py parses them (a dict) or as Redis sends them (RESP2's flat list of
    names and values, the reply of a command read off a connection)."""
    out: list[tuple[str, Fields]] = []
    for entry_id, raw in reply or ():
        if entry_id is None or not raw:  # redis-py 8 gives a trimmed entry's fields as {}
            continue
        if isinstance(raw, Mapping):
            out.append((decode(entry_id), decode_fields(raw)))
        else:  # a flat list, read here without building redis-py's dict first
            out.append((decode(entry_id), {decode(raw[j]): decode(raw[j + 1])
                                           for j in range(0, len(raw) - 1, 2)}))
    return out


class Producer:
    """Append entries to a stream, trimming it to about ``maxlen`` entries.

    Trimming is approximate (``MAXLEN ~``) so Redis trims whole macro-nodes, which is far
    cheaper than exact trimming.
    """

    def __init__(self, client: redis.Redis, maxlen: int = 1_000_000) -> None:
        self.client = client
        self.maxlen = maxlen

    def add(self, stream: str, fields: Mapping[str, str]) -> str:
        """Append one entry and return its id."""
        entry_id = self.client.xadd(stream, _entry(fields), maxlen=self.maxlen,
                                    approximate=True)
        return decode(entry_id)

    def add_many(self, stream: str, entries: Iterable[Mapping[str, str]]) -> list[str]:
        """Append entries in one round trip (a pipeline); return their ids in order."""
        pipe = self.client.pipeline(transaction=False)
        count = 0
        for fields in entries:
            pipe.xadd(stream, _entry(fields), maxlen=self.maxlen, approximate=True)
            count += 1
        if not count:
            return []
        return [decode(entry_id) for entry_id in pipe.execute()]


def _entry(fields: Mapping[str, str]) -> dict[Any, Any]:
    # redis-py types entry fields as a dict of its encodable types (an invariant dict type,
    # which dict[str, str] is not); the values are text either way.
    return dict(fields)


def ensure_group(client: redis.Redis, stream: str, group: str) -> None:
    """Create ``group`` on ``stream`` (and the stream) unless it exists already."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


@dataclass
class ConsumerStats:
    """What one consumer has done, for ``/soc status`` and tests."""

    handled: int = 0
    failed: int = 0
    reclaimed: int = 0
    dead_lettered: int = 0


@dataclass
class Consumer:
    """Read a stream in a consumer group and hand each entry to ``handler``.

    ``min_idle_ms`` is how long an entry may stay pending (its consumer silent) before another
    consumer reclaims it; ``max_deliveries`` how often one entry may be tried before it is
    moved to :data:`DEAD_LETTERS`.

    ``batch_handler``, when given, takes every entry of a read at once (the detection stage
    folds a batch's signals before writing them); the entries it does not report as failed are
    acknowledged together. ``handler`` is then unused.
    """

    client: redis.Redis
    stream: str
    group: str
    name: str
    handler: Handler
    batch: int = 100
    block_ms: int = 1000
    min_idle_ms: int = 30_000
    max_deliveries: int = 5
    dead_letter_stream: str = DEAD_LETTERS
    # Called after every step that handled entries: lets a handler that coalesces work
    # (the notifier's message updates) flush once per batch instead of once per entry.
    after_batch: Callable[[], None] | None = None
    batch_handler: BatchHandler | None = None
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    # Give way to other work: while ``defer_to()`` is true, :meth:`run` handles one batch per
    # ``max_defer_s`` only (the index stage defers to detection's backlog in one process).
    defer_to: Callable[[], bool] | None = None
    max_defer_s: float = 1.0
    # True when the last read returned a full batch: more entries are waiting (a backlog).
    behind: bool = False
    # After a full read, ask for the next batch before handling this one, on a connection of
    # its own: Redis reads it while this one is handled (the detect stage in a backlog). Those
    # entries are delivered to this consumer a batch early; :meth:`run` handles them before it
    # returns, and if the process dies they are reclaimed like any pending entry.
    read_ahead: bool = False

    def __post_init__(self) -> None:
        ensure_group(self.client, self.stream, self.group)
        self._next_claim = 0.0
        self._ahead: Any = None  # the connection whose XREADGROUP reply is still to be read

    def run(self, stop: threading.Event) -> None:
        """Process entries until ``stop`` is set."""
        deferring_since: float | None = None
        while not stop.is_set():
            if self.defer_to is not None and self.defer_to():
                now = time.monotonic()
                if deferring_since is None:
                    deferring_since = now
                if now - deferring_since < self.max_defer_s:
                    stop.wait(0.02)
                    continue
            deferring_since = None
            try:
                self.step()
            except UNAVAILABLE as exc:
                log.warning("redis unavailable on %s/%s: %s; retrying",
                            self.stream, self.group, exc)
                stop.wait(1.0)
        if self._ahead is not None:  # the batch read ahead: handle it rather than leave it
            try:
                self.step(block_ms=0, ahead=False)
            except UNAVAILABLE as exc:
                log.warning("redis unavailable on %s/%s: %s; the entries read ahead stay "
                            "pending until reclaimed", self.stream, self.group, exc)

    def step(self, block_ms: int | None = None, *, ahead: bool = True) -> int:
        """Reclaim stale entries, then read and handle one batch of new ones (the one read
        ahead, if there is one; ``ahead=False``: read no further one).

        Returns how many entries were handled or dead-lettered in this step.
        """
        done = 0
        now = time.monotonic()
        if now >= self._next_claim:
            done += self._reclaim()
            self._next_claim = now + max(self.min_idle_ms / 1000 / 2, 0.05)
        reply = self._read_ahead_reply() if self._ahead is not None else None
        if not reply:
            block = self.block_ms if block_ms is None else block_ms
            reply = self.client.xreadgroup(
                self.group, self.name, {self.stream: ">"}, count=self.batch,
                block=block or None)
        batches = read_reply(reply)
        behind = any(len(batch) >= self.batch for _stream, batch in batches)
        if behind and ahead and self.read_ahead:
            self._ask_ahead()
        for _stream, batch in batches:
            done += self._handle_all([(entry_id, fields, 1) for entry_id, fields in batch])
        self.behind = behind
        if done and self.after_batch is not None:
            self.after_batch()
        return done

    def _ask_ahead(self) -> None:
        """Send the next batch's XREADGROUP (not blocking) on a connection of its own."""
        pool = own_pool(self.client)
        if pool is None:
            return  # a cluster or single-connection client reads when asked
        connection = pool.get_connection()
        try:
            connection.send_command("XREADGROUP", "GROUP", self.group, self.name,
                                    "COUNT", self.batch, "STREAMS", self.stream, ">")
        except UNAVAILABLE:
            connection.disconnect()
            pool.release(connection)
            return
        self._ahead = connection

    def _read_ahead_reply(self) -> object:
        """The reply of the XREADGROUP :meth:`_ask_ahead` sent (None if it failed: the entries
        it may have delivered stay pending until reclaimed)."""
        connection, self._ahead = self._ahead, None
        try:
            raw = connection.read_response()
        except UNAVAILABLE as exc:
            log.warning("%s/%s: the batch read ahead was lost (%s); its entries will be "
                        "reclaimed", self.stream, self.group, exc)
            connection.disconnect()
            return None
        finally:
            self.client.connection_pool.release(connection)
        return raw  # as Redis sent it: read_reply takes it without redis-py's parse

    def _reclaim(self) -> int:
        done = 0
        start = "0-0"
        while True:
            reply = self.client.xautoclaim(
                self.stream, self.group, self.name, self.min_idle_ms,
                start_id=start, count=self.batch,
            )
            next_start, claimed = decode(reply[0]), reply[1]
            # Entries trimmed away while pending come back as None (Redis 6.2) or are
            # listed in reply[2] (Redis 7): acknowledge them, there is nothing to do.
            batch = []
            for entry_id, raw in claimed:
                if raw is None:
                    self.client.xack(self.stream, self.group, entry_id)
                    continue
                entry_id = decode(entry_id)
                batch.append((entry_id, decode_fields(raw), self._deliveries(entry_id)))
                self.stats.reclaimed += 1
            done += self._handle_all(batch)
            if next_start == "0-0":
                return done
            start = next_start

    def _deliveries(self, entry_id: str) -> int:
        pending = self.client.xpending_range(
            self.stream, self.group, min=entry_id, max=entry_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 1

    def _handle_all(self, batch: list[tuple[str, Fields, int]]) -> int:
        if self.batch_handler is None:
            return sum(self._handle(*item) for item in batch)
        done = 0
        live: list[tuple[str, Fields, int]] = []
        for entry_id, fields, deliveries in batch:
            if deliveries > self.max_deliveries:
                self._dead_letter(entry_id, fields,
                                  f"delivered {deliveries - 1} times without success")
                done += 1
            else:
                live.append((entry_id, fields, deliveries))
        if not live:
            return done
        try:
            failures = dict(self.batch_handler([(e, f) for e, f, _ in live]))
        except Exception as exc:  # the handler's failure must not stop the stage
            log.exception("%s/%s: a batch of %d entries failed", self.stream, self.group,
                          len(live))
            failures = {entry_id: exc for entry_id, _, _ in live}
        handled = [entry_id for entry_id, _, _ in live if entry_id not in failures]
        if handled:
            self.client.xack(self.stream, self.group, *handled)
            self.stats.handled += len(handled)
        for entry_id, fields, deliveries in live:
            if entry_id in failures:
                log.error("%s/%s: entry %s failed (try %d of %d): %s", self.stream, self.group,
                          entry_id, deliveries, self.max_deliveries, failures[entry_id])
                done += self._failed(entry_id, fields, deliveries, failures[entry_id])
        return done + len(handled)

    def _handle(self, entry_id: str, fields: Fields, deliveries: int) -> int:
        if deliveries > self.max_deliveries:
            self._dead_letter(entry_id, fields, f"delivered {deliveries - 1} times without success")
            return 1
        try:
            self.handler(entry_id, fields)
        except Exception as exc:  # the handler's failure must not stop the stage
            log.exception("%s/%s: entry %s failed (try %d of %d)", self.stream, self.group,
                          entry_id, deliveries, self.max_deliveries)
            return self._failed(entry_id, fields, deliveries, exc)
        self.client.xack(self.stream, self.group, entry_id)
        self.stats.handled += 1
        return 1

    def _failed(self, entry_id: str, fields: Fields, deliveries: int, exc: Exception) -> int:
        """Count a failed try; dead-letter the entry at its last try (1), else leave it (0)."""
        self.stats.failed += 1
        if deliveries >= self.max_deliveries:
            self._dead_letter(entry_id, fields, f"{type(exc).__name__}: {exc}")
            return 1
        return 0

    def _dead_letter(self, entry_id: str, fields: Fields, error: str) -> None:
        record = _entry(fields)
        record.update({
            "dead.stream": self.stream,
            "dead.group": self.group,
            "dead.id": entry_id,
            "dead.error": error[:2000],
            "dead.at": str(time.time()),
        })
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.dead_letter_stream, record, maxlen=100_000, approximate=True)
        pipe.xack(self.stream, self.group, entry_id)
        pipe.execute()
        self.stats.dead_lettered += 1
        log.error("%s/%s: entry %s moved to %s: %s", self.stream, self.group, entry_id,
                  self.dead_letter_stream, error)
