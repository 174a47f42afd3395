"""From a source to the ``{soc}:events`` stream: secure-log tailing, CloudTrail files, and the
batching every other collector shares (:func:`send_items`).

Each event is one entry ``{"e": dumps(event)}`` on :data:`core.streams.EVENTS` (trimmed to about
``maxlen`` entries). What could not be parsed goes to :data:`core.streams.DEAD_LETTERS` with the
raw text (at most 8 KiB) and the error, and every outcome is counted in the hash
``{soc}:stats:parse`` (``{source}.parsed|ignored|failed``, ``cloudtrail.duplicates``, and
``secure.ambiguous`` for events read two ways, whose address was left out).

Delivery guarantees:

* secure, door, wifi: through :class:`~collectors.sink.EventSink`. The events of a batch,
  its dead letters, its counts and (secure) the file position after it are committed by one
  Lua script that also marks the batch done, so a batch is in Redis once or not at all and
  after a crash the tailer starts exactly after the last line Redis took. While Redis is
  unreachable, batches go to the on-disk spool (with their positions) and are drained in
  order when it returns; with the spool full the tailer waits (the log is then the buffer).
* CloudTrail: a Lua script marks ``{soc}:seen:ct:{eventID}`` (SET NX with a TTL) and adds the
  event in one atomic step, so at-least-once deliveries and re-runs never double an event.
  Re-running a collection after a failure is therefore safe.

Example::

    stop = threading.Event()
    stats = collect_secure(redis, "/var/log/secure", stop)           # until stop is set
    stats = collect_cloudtrail(redis, "AWSLogs/111122223333/CloudTrail/")
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
from redis.typing import EncodableT, FieldT

from socbot.collectors.base import capped, encode_event, file_key, line_id
from socbot.collectors.cloudtrail import BadRecord, read_path
from socbot.collectors.secure import ParseError, parse_line
from socbot.collectors.secure_common import AMBIGUOUS
from socbot.collectors.secure_connections import Connections
from socbot.collectors.sink import DEAD_MAXLEN, EVENTS_MAXLEN, Batch, EventSink
from socbot.collectors.spool import NOT_STORED, Spool
from socbot.collectors.tail import FileTailer, Position, PositionStore, TailLine
from socbot.core import keys
from socbot.core.events import Event
from socbot.core.redisconn import UNAVAILABLE
from socbot.core.streams import DEAD_LETTERS, EVENTS

log = logging.getLogger(__name__)


Fields = dict[FieldT, EncodableT]  # a stream entry, typed as redis-py wants it

# KEYS: seen marker, events stream, stats hash. ARGV: ttl, maxlen, serialized event.
# Marking and adding in one script: a crash between the two cannot mark an event it never added.
# Send a batch of events, each event.id at most once per dedup window. KEYS: the events stream,
# the parse counts, then one "seen" mark per event. ARGV: dedup seconds, stream length, source,
# then the events (serialized), in the order of their marks. Reply: how many were added.
_DEDUP_ADD = """
local sent = 0
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', tonumber(ARGV[1])) then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[i + 1])
    sent = sent + 1
  end
end
redis.call('HINCRBY', KEYS[2], ARGV[3] .. '.parsed', #KEYS - 2)
if sent < #KEYS - 2 then
  redis.call('HINCRBY', KEYS[2], ARGV[3] .. '.duplicates', #KEYS - 2 - sent)
end
return sent
"""


@dataclass
class CollectStats:
    """What one collection did; ``sent`` counts entries Redis accepted on ``{soc}:events``."""

    parsed: int = 0
    ignored: int = 0
    failed: int = 0
    duplicates: int = 0
    sent: int = 0
    spooled: int = 0  # batches that waited in the spool for Redis


class _SpoolAwarePositions(PositionStore):
    """Positions from Redis, unless the spool holds newer batches of the file; waits for
    Redis at start-up rather than guessing where to resume."""

    def __init__(self, client: redis.Redis, sink: EventSink, stop: threading.Event) -> None:
        super().__init__(client)
        self.sink = sink
        self.stop = stop

    def load(self, path: str | Path) -> Position | None:
        spooled = self.sink.last_spooled_position()
        if spooled is not None:
            return Position(*spooled)
        while True:
            try:
                return super().load(path)
            except UNAVAILABLE as exc:
                log.warning("redis unavailable, waiting for the saved position: %s", exc)
                if self.stop.wait(1.0):
                    raise

    def save(self, path: str | Path, position: Position) -> None:
        try:
            super().save(path, position)
        except UNAVAILABLE:
            pass  # the first batch's commit carries the position too


def collect_secure(client: redis.Redis, path: str | Path, stop: threading.Event, *,
                   from_start: bool = False, poll_interval: float = 0.1, batch: int = 500,
                   once: bool = False, maxlen: int = EVENTS_MAXLEN,
                   spool: Spool | None = None) -> CollectStats:
    """Tail ``path`` and send its events until ``stop`` is set (or, with ``once``, to its end).

    ``from_start`` reads a file never seen before from its beginning instead of its end. At
    the end of the file it looks again every ``poll_interval`` seconds (a new line waits at
    most that long; a look is one stat and one read that finds nothing). Each batch of lines
    is one :class:`~collectors.sink.Batch` with the file position after it; with a ``spool``,
    batches wait there while Redis is unreachable, else the collector waits (the log file is
    then the buffer).
    """
    path = Path(path)
    stats = CollectStats()
    host = socket.gethostname()
    sink = EventSink(client, f"secure:{path.resolve()}", spool, maxlen=maxlen)
    positions = _SpoolAwarePositions(client, sink, stop)
    tailer = FileTailer(path, positions, from_start=from_start)
    file_keys: dict[str, str] = {}
    connections = Connections()  # per host and pid, across batches (see secure_connections)
    sender = Sender(sink, stop, stats)
    try:
        while not stop.is_set():
            lines = tailer.read_batch(batch)
            if not lines:
                if spool is not None and spool:
                    sink.drain()
                if once:
                    break
                stop.wait(poll_interval)
                continue
            events, dead, counts = _parse_batch(lines, host, path, file_keys, connections)
            position = tailer.position
            assert position is not None
            work = Batch(events=[encode_event(e) for e in events], dead=dead,  # type: ignore[arg-type]
                         counts={f"secure.{k}": v for k, v in counts.items()},
                         position_key=positions.key(path),
                         position=(position.file_id, position.offset))
            if not sender.put(work, counts):
                break
    finally:
        try:
            sender.close()  # every batch read so far is committed or spooled (SIGTERM too)
        finally:
            tailer.close()
            sink.close()
    return stats


class Sender:
    """Sends batches in order on a thread of its own, so that the next batch is parsed while
    Redis runs this one's commit. At most ``depth`` batches wait in memory; :meth:`close`
    waits until every one is committed or spooled."""

    def __init__(self, sink: EventSink, stop: threading.Event, stats: CollectStats,
                 depth: int = 2) -> None:
        self.sink, self.stop, self.stats = sink, stop, stats
        self.queue: queue.Queue[tuple[Batch, dict[str, int]] | None] = queue.Queue(depth)
        self.gave_up = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="collector-sender", daemon=True)
        self.thread.start()

    def put(self, work: Batch, counts: dict[str, int]) -> bool:
        """Queue a batch; False once the sender has stopped (nothing after is sent)."""
        while not self.gave_up.is_set():
            try:
                self.queue.put((work, counts), timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """Wait for the queued batches; re-raise what stopped the sender, if anything."""
        if not self.gave_up.is_set():
            self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            work, counts = item
            try:
                sent = _send(self.sink, work, self.stop, self.stats)
            except BaseException as exc:  # handed to the reading thread by close()
                self.error, sent = exc, False
            if not sent:
                # Later batches must not be committed: their positions are past this one's.
                self.gave_up.set()
                return
            self.stats.parsed += counts["parsed"]
            self.stats.ignored += counts["ignored"]
            self.stats.failed += counts["failed"]
            self.stats.sent += len(work.events)


def _send(sink: EventSink, work: Batch, stop: threading.Event,
          stats: CollectStats | None = None) -> bool:
    """Send one batch, waiting while neither Redis nor the spool can take it.

    False if ``stop`` came first: the batch was not committed anywhere, and its lines are
    read again on the next start.
    """
    while True:
        try:
            if sink.send(work).spooled and stats is not None:
                stats.spooled += 1
            return True
        except NOT_STORED as exc:
            log.warning("batch kept for retry: %s", exc)
            if stop.wait(1.0):
                return False


def _parse_batch(lines: list[TailLine], host: str, path: Path, file_keys: dict[str, str],
                 connections: Connections) -> tuple[list[Event], list[Fields], dict[str, int]]:
    now = datetime.now(UTC)
    events: list[Event] = []
    dead: list[Fields] = []
    counts = {"parsed": 0, "ignored": 0, "failed": 0}
    for item in lines:
        key = file_keys.get(item.file_id)
        if key is None:
            key = file_keys[item.file_id] = file_key(host, item.file_id)
        try:
            event = parse_line(item.line, now=now, event_id=line_id(key, item.offset, item.line))
        except ParseError as exc:
            counts["failed"] += 1
            dead.append({"source": "secure", "line": capped(item.line),
                         "error": f"{type(exc).__name__}: {exc}", "path": str(path),
                         "offset": str(item.offset)})
            continue
        keep_event(event, counts, events, connections)
    return events, dead, counts


def keep_event(event: Event | None, counts: dict[str, int], events: list[Event],
               connections: Connections) -> None:
    """Count an auth-log line read (``ignored``, ``parsed``, ``ambiguous``) and keep its event,
    completed from its process's address (:class:`Connections`)."""
    if event is None:
        counts["ignored"] += 1
        return
    counts["parsed"] += 1
    events.append(connections.apply(event))
    if AMBIGUOUS in event.get("tags", ()):
        counts["ambiguous"] = counts.get("ambiguous", 0) + 1


def send_cloudtrail(client: redis.Redis, items: list[Event | BadRecord], *,
                    dedup_ttl: int = 86400, maxlen: int = EVENTS_MAXLEN,
                    dead: list[dict[str, str]] | None = None,
                    source: str = "cloudtrail") -> CollectStats:
    """Send events (each ``event.id`` at most once per ``dedup_ttl``) and dead-letter bad
    records (and the ready-made dead letters ``dead``), in one round trip; counts go under
    ``source`` (``cloudtrail``, ``findings``). Raises redis errors: nothing is known to be
    sent until it returns."""
    stats = CollectStats()
    goods = [item for item in items if isinstance(item, dict)]
    bads = [item for item in items if isinstance(item, BadRecord)]
    sent = 0
    if goods:
        # One script call for the batch (Redis Cluster runs no script inside a pipeline).
        sent = int(client.register_script(_DEDUP_ADD)(
            keys=[EVENTS, keys.PARSE_STATS,
                  *(keys.cloudtrail_seen(event["event.id"]) for event in goods)],
            args=[dedup_ttl, maxlen, source, *(encode_event(event) for event in goods)]))
    if bads or dead:
        pipe = client.pipeline(transaction=False)
        for bad in bads:
            pipe.xadd(DEAD_LETTERS, bad.dead_letter(source),  # type: ignore[arg-type]
                      maxlen=DEAD_MAXLEN, approximate=True)
        for fields in dead or ():
            pipe.xadd(DEAD_LETTERS, fields, maxlen=DEAD_MAXLEN, approximate=True)  # type: ignore[arg-type]
        if bads:
            pipe.hincrby(keys.PARSE_STATS, f"{source}.failed", len(bads))
        pipe.execute()
    stats.parsed, stats.sent = len(goods), sent
    stats.duplicates, stats.failed = len(goods) - sent, len(bads)
    return stats


def add_stats(total: CollectStats, more: CollectStats) -> None:
    """Add ``more`` into ``total``."""
    for name, value in vars(more).items():
        setattr(total, name, getattr(total, name) + value)


def collect_cloudtrail(client: redis.Redis, path: str | Path, *, dedup_ttl: int = 86400,
                       batch: int = 500, maxlen: int = EVENTS_MAXLEN,
                       source: str = "cloudtrail") -> CollectStats:
    """Send the events of CloudTrail files under ``path``, each eventID at most once.

    An event whose eventID was seen within ``dedup_ttl`` seconds counts as a duplicate and is
    not sent again; bad records go to the dead-letter stream. ``source="findings"`` reads
    GuardDuty, Security Hub, Access Analyzer and Macie findings instead (deduplicated by
    finding id and ``updatedAt``).
    """
    from socbot.collectors import findings

    reader = findings.read_path if source == "findings" else read_path
    stats = CollectStats()
    pending: list[Event | BadRecord] = []
    for item in reader(path):
        if isinstance(item, BadRecord):
            log.warning("%s: record %s not read: %s", item.path, item.index, item.error)
        pending.append(item)
        if len(pending) >= batch:
            add_stats(stats, send_cloudtrail(client, pending, dedup_ttl=dedup_ttl, maxlen=maxlen,
                                             source=source))
            pending.clear()
    if pending:
        add_stats(stats, send_cloudtrail(client, pending, dedup_ttl=dedup_ttl, maxlen=maxlen,
                                         source=source))
    return stats


def send_items(sink: EventSink, source: str, items: Iterable[Event | BadRecord | None],
               stop: threading.Event, *, batch: int = 500) -> CollectStats:
    """Send a reader's events and dead-letter its bad records through ``sink``, in batches.

    Counts go to ``{soc}:stats:parse`` as ``{source}.parsed|ignored|failed``. Stops early
    (returning what was sent) if ``stop`` is set while neither Redis nor the spool can take
    a batch.
    """
    stats = CollectStats()
    work = Batch()

    def flush() -> bool:
        if not work.events and not work.dead and not any(work.counts.values()):
            return True
        if not _send(sink, work, stop, stats):
            return False
        stats.sent += len(work.events)
        return True

    for item in items:
        if item is None:
            stats.ignored += 1
            work.counts[f"{source}.ignored"] = work.counts.get(f"{source}.ignored", 0) + 1
        elif isinstance(item, BadRecord):
            stats.failed += 1
            log.warning("%s: record %s not read: %s", item.path, item.index, item.error)
            work.dead.append(item.dead_letter(source))
            work.counts[f"{source}.failed"] = work.counts.get(f"{source}.failed", 0) + 1
        else:
            stats.parsed += 1
            work.events.append(encode_event(item))
            work.counts[f"{source}.parsed"] = work.counts.get(f"{source}.parsed", 0) + 1
        if len(work.events) + len(work.dead) >= batch:
            if not flush():
                return stats
            work = Batch()
    flush()
    return stats
