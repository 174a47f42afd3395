"""Where collectors put events: ``{soc}:events`` when Redis answers, the spool when it does not.

A batch is events (serialized), dead letters, parse counts and, for a tailed file, the file
position after it. Each batch gets ``(epoch, seq)``: ``epoch`` is random per sink instance (one
collector run) and ``seq`` counts its batches. One Lua script adds a batch's entries, counts
and position *and* records ``seq`` as done under ``{soc}:spool:done:{name}:{epoch}``, skipping
a batch whose ``seq`` is done already. So a batch is in Redis entirely or not at all, and
sending it again (a reply lost with the connection, a spool drained twice after a crash) adds
nothing: no loss, no duplicate.

While Redis is unreachable, batches go to the :class:`~collectors.spool.Spool` in order; while
the spool holds anything, new batches go behind them, so order is kept. Each send first tries
to drain the spool. :meth:`EventSink.close` (on SIGTERM) makes a last attempt to drain.
With ``SOCBOT_REDIS_WAIT_REPLICAS`` set (:mod:`core.replication`), a batch leaves the spool
only once that many replicas confirm it, so a failover cannot lose it.

Example::

    sink = EventSink(redis, "door", Spool(state_dir() / "spool" / "door"))
    sink.send(Batch(events=[dumps(e) for e in events]))    # raises SpoolFull when both fail
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field

import redis

from socbot.collectors.spool import Spool, Spooled
from socbot.core import keys, metrics, replication
from socbot.core.redisconn import UNAVAILABLE
from socbot.core.streams import DEAD_LETTERS, EVENTS

log = logging.getLogger(__name__)

__all__ = ["Batch", "EventSink", "SendResult"]

DONE_TTL_S = 30 * 86400
EVENTS_MAXLEN = 1_000_000
DEAD_MAXLEN = 100_000

# KEYS: done marker, events, dead letters, stats hash, position hash.
# ARGV: maxlen, dead maxlen, seq, ttl, the events joined by newlines (compact JSON has none of
#       its own), n, (k, f1, v1, ...)..., n, (name, value)..., position file id ("" for none),
#       position offset. One argument for all events keeps the client's packing cheap.
_COMMIT = """
local done = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[3])
if seq <= done then return -1 end
local blob = ARGV[5]
local pos = 1
while pos <= #blob do
  local nl = string.find(blob, '\\n', pos, true) or (#blob + 1)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'e', string.sub(blob, pos, nl - 1))
  pos = nl + 1
end
local i = 6
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local k = tonumber(ARGV[i]); i = i + 1
  local args = {KEYS[3], 'MAXLEN', '~', ARGV[2], '*'}
  for j = 0, k - 1 do args[#args + 1] = ARGV[i + j] end
  redis.call('XADD', unpack(args)); i = i + k
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HINCRBY', KEYS[4], ARGV[i], ARGV[i + 1]); i = i + 2
end
if ARGV[i] ~= '' then
  redis.call('HSET', KEYS[5], 'file_id', ARGV[i], 'offset', ARGV[i + 1])
end
redis.call('SET', KEYS[1], seq, 'EX', tonumber(ARGV[4]))
return 1
"""


@dataclass
class Batch:
    """What one commit adds: events (serialized), dead letters, counts, a file position."""

    events: list[str] = field(default_factory=list)
    dead: list[dict[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    position_key: str = ""
    position: tuple[str, int] | None = None

    def to_json(self) -> dict[str, object]:
        """The batch as the spool stores it."""
        return {"e": self.events, "d": self.dead, "c": self.counts, "k": self.position_key,
                "p": list(self.position) if self.position else None}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Batch:
        """Inverse of :meth:`to_json`."""
        position = data.get("p")
        return cls(list(data["e"]), list(data["d"]), dict(data["c"]),  # type: ignore[call-overload]
                   str(data.get("k") or ""),
                   (str(position[0]), int(position[1])) if position else None)  # type: ignore[index]


@dataclass
class SendResult:
    """Where a batch went."""

    sent: bool
    spooled: bool


class EventSink:
    """Send batches to Redis exactly once, through the spool while Redis is unreachable."""

    def __init__(self, client: redis.Redis, name: str, spool: Spool | None = None, *,
                 maxlen: int = EVENTS_MAXLEN, stats_key: str = keys.PARSE_STATS) -> None:
        self.client = client
        self.name = name
        self.spool = spool
        self.maxlen = maxlen
        self.stats_key = stats_key
        self.epoch = secrets.token_hex(6)
        self.seq = 0
        self.spooled = 0
        self._script = client.register_script(_COMMIT)
        self._lock = threading.Lock()
        self.replicas, self.wait_ms = replication.wanted()

    def send(self, batch: Batch) -> SendResult:
        """Commit ``batch`` to Redis, or spool it; raise SpoolFull (or the Redis error, with no
        spool) when neither can take it. Thread-safe; batches keep their order."""
        with self._lock:
            self.seq += 1
            if self.spool is not None and self.spool:
                self._drain()
            if self.spool is None or not self.spool:
                try:
                    if self._commit(self.epoch, self.seq, batch) or self.spool is None:
                        return SendResult(sent=True, spooled=False)
                    # In the master but not yet on a replica: kept in the spool until one
                    # confirms it (the re-send adds nothing if the master keeps it).
                    log.warning("batch %s/%d not confirmed by %d replica(s) in %d ms; "
                                "kept in the spool", self.epoch, self.seq, self.replicas,
                                self.wait_ms)
                except UNAVAILABLE as exc:
                    if self.spool is None:
                        raise
                    log.warning("redis unreachable, spooling to %s: %s",
                                self.spool.directory, exc)
            assert self.spool is not None
            try:
                self.spool.append(self.epoch, self.seq, batch.to_json())
            except BaseException:
                self.seq -= 1
                raise
            self.spooled += 1
            return SendResult(sent=False, spooled=True)

    def drain(self) -> bool:
        """Send what the spool holds, in order; True if it is empty afterwards."""
        with self._lock:
            return self._drain()

    def close(self) -> bool:
        """Last attempt to drain before exit; True if nothing is left in the spool."""
        return self.drain()

    def last_spooled_position(self) -> tuple[str, int] | None:
        """The file position of the newest spooled batch that has one (for a tailer)."""
        if self.spool is None:
            return None
        found = None
        for item in self.spool:
            if item.batch.get("p"):
                position = item.batch["p"]
                found = (str(position[0]), int(position[1]))  # type: ignore[index]
        return found

    def _drain(self) -> bool:
        if self.spool is None:
            return True
        done: Spooled | None = None
        try:
            for item in self.spool:
                if not self._commit(item.epoch, item.seq, Batch.from_json(item.batch)):
                    return False  # not on the replicas yet: try again later
                done = item
        except UNAVAILABLE:
            return False
        finally:
            if done is not None:
                self.spool.acknowledge(done)
        if done is not None:
            log.info("spool %s drained", self.spool.directory)
        return True

    def _commit(self, epoch: str, seq: int, batch: Batch) -> bool:
        """Commit ``batch``; True once it is in Redis (and on the replicas
        ``SOCBOT_REDIS_WAIT_REPLICAS`` asks for)."""
        args: list[str | int] = [self.maxlen, DEAD_MAXLEN, seq, DONE_TTL_S,
                                 "\n".join(batch.events), len(batch.dead)]
        for fields in batch.dead:
            args.append(2 * len(fields))
            for name, text in fields.items():
                args += [name, text]
        counts = {k: v for k, v in batch.counts.items() if v}
        args.append(len(counts))
        for counter, count in counts.items():
            args += [counter, count]
        if batch.position is not None:
            args += [batch.position[0], batch.position[1]]
        else:
            args += ["", ""]
        added, confirmed = replication.write(
            self._script, self.client,
            [keys.spool_done(self.name, epoch), EVENTS, DEAD_LETTERS, self.stats_key,
             batch.position_key or keys.spool_done(self.name, "nopos")],
            args, self.replicas, self.wait_ms)
        if added != 1:  # done already: a re-send after a lost reply or an unconfirmed commit
            return confirmed
        # Counted once Redis holds the batch, so a spooled batch counts when it drains.
        if batch.events:
            metrics.events_in(self.name, len(batch.events))
        for name, value in counts.items():
            source, _, kind = name.partition(".")
            if kind == "failed":
                metrics.parse_failure(source, count=value)
        return confirmed
