"""Mutes: silence a rule, or a rule for one entity, until a time.

A mute is a Redis key with an expiry, so it ends by itself; ``{soc}:mutes`` indexes them for
listing. Signals that match a mute are counted (``{soc}:mutes:counts``, a hash of
``rule_id:entity`` -> signals silenced), not alerted. Example::

    mutes = MuteStore(redis_client)
    mutes.mute("secure.ssh_brute_force", "203.0.113.7", seconds=3600, by="U0123ABCD",
               reason="our own scanner")
    mutes.is_muted("secure.ssh_brute_force", "203.0.113.7")   # -> Mute(...)
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import redis

from socbot.core import keys
from socbot.core.streams import decode, texts

ANY = "*"  # the entity of a mute that silences the whole rule
MAX_MUTE_S = 30 * 86400


@dataclass(frozen=True)
class Mute:
    """One active mute."""

    rule_id: str
    entity: str
    until: float
    by: str
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view."""
        return asdict(self)


class MuteStore:
    """Mutes in Redis, shared by every detection worker and the Slack app."""

    INDEX = keys.MUTES
    COUNTS = keys.MUTE_COUNTS

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    key = staticmethod(keys.mute)

    def mute(self, rule_id: str, entity: str | None, *, seconds: int, by: str,
             reason: str = "", now: float | None = None) -> Mute:
        """Silence ``rule_id`` for ``entity`` (None: every entity) for ``seconds``."""
        if not 0 < seconds <= MAX_MUTE_S:
            raise ValueError(f"a mute lasts from 1 s to {MAX_MUTE_S // 86400} days; "
                             f"got {seconds} s")
        now = time.time() if now is None else now
        mute = Mute(rule_id, entity or ANY, now + seconds, by, reason)
        key = self.key(rule_id, mute.entity)
        pipe = self.client.pipeline(transaction=True)
        pipe.set(key, json.dumps(mute.to_dict()), ex=seconds)
        pipe.zadd(self.INDEX, {key: mute.until})
        pipe.execute()
        return mute

    def unmute(self, rule_id: str, entity: str | None) -> bool:
        """End a mute early; True if there was one."""
        key = self.key(rule_id, entity or ANY)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(key)
        pipe.zrem(self.INDEX, key)
        return bool(pipe.execute()[0])

    def is_muted(self, rule_id: str, entity: str) -> Mute | None:
        """The mute that silences ``rule_id`` for ``entity`` now, if any."""
        for raw in self.client.mget([self.key(rule_id, entity), self.key(rule_id, ANY)]):
            if raw:
                return Mute(**json.loads(raw))
        return None

    def active(self, now: float | None = None) -> list[Mute]:
        """Every mute still in force, soonest to end first."""
        now = time.time() if now is None else now
        self.client.zremrangebyscore(self.INDEX, "-inf", now)
        keys = texts(self.client.zrange(self.INDEX, 0, -1))
        values = self.client.mget(keys) if keys else []
        return [Mute(**json.loads(v)) for v in values if v]

    def count_muted(self, rule_id: str, entity: str, n: int = 1) -> int:
        """Count a signal silenced by the mute of ``rule_id`` for ``entity``; the new total."""
        return int(self.client.hincrby(self.COUNTS, f"{rule_id}:{entity or ANY}", n))

    def muted_counts(self) -> dict[str, int]:
        """Signals silenced so far, by ``rule_id:entity`` of the mute that silenced them."""
        return {decode(k): int(v) for k, v in self.client.hgetall(self.COUNTS).items()}
