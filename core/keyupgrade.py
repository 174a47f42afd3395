"""Bring Redis data written by an earlier socbot under today's key names.

Before Redis Cluster support, every key began ``soc:``; now every key begins ``{soc}:`` (the
hash tag that keeps them in one Cluster slot, see :mod:`socbot.core.keys`). Data outlives an
upgrade: open alerts, tail positions, rule windows and the streams with their consumer groups
must not be orphaned. :func:`upgrade` renames each ``soc:`` key to its tagged name with
``RENAMENX`` (the value, its expiry and a stream's consumer groups move with it) and leaves a key
alone when the new name is already taken, saying so.

It runs when a process connects (:func:`socbot.core.redisconn.connect`), gated by one
``EXISTS`` of the keys every earlier installation has, so a current database costs one round
trip. Stop every socbot process of the earlier version before starting the new one: a process
still running the old version would write ``soc:`` keys again after the rename.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis

from socbot.core import keys

log = logging.getLogger(__name__)

OLD_ROOT = keys.EARLIER_ROOT
# Keys every earlier installation that ran the pipeline has (streams and their indexes), under
# their earlier names: derived from today's names, not spelled again.
MARKERS = tuple(OLD_ROOT + key[len(keys.ROOT):] for key in (
    keys.EVENTS, keys.ALERTS, keys.ACTIONS, keys.DEAD_LETTERS, keys.AUDIT, keys.OPEN_ALERTS,
    keys.PARSE_STATS, keys.EVENT_STORE))


@dataclass
class Upgrade:
    """What :func:`upgrade` did: keys renamed, and keys kept because the new name was taken."""

    renamed: int = 0
    kept: list[str] = field(default_factory=list)


def upgrade(client: redis.Redis) -> Upgrade:
    """Rename every ``soc:`` key to its ``{soc}:`` name; a no-op on a current database."""
    done = Upgrade()
    if not client.exists(*MARKERS):
        return done
    root, old_root = keys.ROOT.encode(), OLD_ROOT.encode()
    for raw in list(client.scan_iter(match=OLD_ROOT + "*", count=1000)):
        old = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogateescape")
        try:
            if client.renamenx(old, root + old[len(old_root):]):
                done.renamed += 1
            else:
                done.kept.append(old.decode("utf-8", "replace"))
        except redis.ResponseError:  # another process renamed it first
            continue
    if done.renamed:
        log.warning("renamed %d Redis keys from soc:... to %s... (the key layout of this "
                    "version)", done.renamed, keys.ROOT)
    if done.kept:
        log.warning("kept %d soc:... keys whose new %s... name was already taken (first: %s); "
                    "an earlier-version process may still be running: stop it, then delete "
                    "or merge these keys", len(done.kept), keys.ROOT, done.kept[0])
    return done
