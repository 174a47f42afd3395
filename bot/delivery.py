"""The order in which waiting Slack messages are sent, under Slack's pacing.

The notifier keeps everything it owes Slack in Redis (the dirty marks of
:mod:`socbot.bot.notifier`) and sends it in passes that never sleep. :func:`next_sends` picks,
for one pass, what may go out now and in which order:

1. **New messages** (an alert or a storm rollup with no Slack message yet): most severe first,
   then the one waiting longest. ``chat.postMessage`` is paced per channel (Slack allows about
   one message a second in a channel), so a channel's next post waits for its slot while other
   channels go on.
2. **Updates that have waited ``max_wait_s`` or more**, longest first: whatever else keeps
   arriving, an update is sent within about that bound once the update budget has room.
3. **Other updates**: news first (severity raised, state changed, a rollup that gained members),
   then settled updates (the message's alert stopped changing: a storm's final figures), then
   most severe, then the message updated least recently.

``chat.update`` is paced workspace-wide (Tier 3, about 50 a minute) as a token bucket: one
token per ``update_interval_s``, at most ``update_burst`` saved up. A plain count update (or an
overdue one) takes a token only while ``update_reserve`` more are left, so news (and a rollup
that gained a member) finds a token at once even while counts keep growing everywhere; an
update waiting ``max_wait_s`` may use the reserve too, and so may a settled one: while a storm
lasts its counts share the budget, and once it stops its final figures go out at once instead
of one per token.

Example::

    sends = next_sends(waiting, now=clock(), pacing=pacing)
    for item in sends:
        ...post or update item.key...
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Waiting:
    """One message the notifier owes Slack."""

    key: str  # alert id, or rollup id
    channel: str  # the channel it is routed to (name or id as configured)
    posted: bool  # it has a message already: this is an update
    severity_rank: int  # core.alerts.SEVERITIES index: higher is more severe
    since: float  # when it started waiting (the notifier's clock)
    news: bool = False  # an update people must see (severity, state, membership)
    last_sent: float = 0.0  # when its message was last sent (updates: least recent first)
    settled: bool = False  # an update whose alert has not changed for a while (final figures)


@dataclass
class Pacing:
    """When each kind of call may be made next."""

    post_interval_s: float = 1.0
    update_interval_s: float = 1.2
    max_wait_s: float = 10.0
    update_burst: float = 4.0
    update_reserve: float = 2.0
    last_post: dict[str, float] = field(default_factory=dict)  # channel -> time
    tokens: float | None = None  # update tokens (None: a full bucket)
    filled_at: float = 0.0

    def may_post(self, channel: str, now: float) -> bool:
        """True when ``channel`` has room for a post at ``now``."""
        return now >= self.last_post.get(channel, float("-inf")) + self.post_interval_s

    def take_update(self, now: float, news: bool) -> bool:
        """Take an update token if the budget allows this update at ``now``."""
        if self.update_interval_s <= 0:
            return True
        if self.tokens is None:
            self.tokens = self.update_burst
        else:
            self.tokens = min(self.update_burst,
                              self.tokens + (now - self.filled_at) / self.update_interval_s)
        self.filled_at = now
        if self.tokens < 1 + (0 if news else self.update_reserve):
            return False
        self.tokens -= 1
        return True


def rank(item: Waiting, now: float, max_wait_s: float) -> tuple[int, float, float, float]:
    """Sort key: smaller goes first (see the module docstring for the order)."""
    if not item.posted:
        return (0, -item.severity_rank, item.since, 0.0)
    if now - item.since >= max_wait_s:
        return (1, 0, item.since, 0.0)
    return (2, 0 if item.news else 1 if item.settled else 2, -item.severity_rank, item.last_sent)


def next_sends(waiting: Iterable[Waiting], *, now: float, pacing: Pacing) -> list[Waiting]:
    """What to send in this pass, in order; records the sends in ``pacing``."""
    chosen: list[Waiting] = []
    for item in sorted(waiting, key=lambda w: rank(w, now, pacing.max_wait_s)):
        if not item.posted:
            if pacing.may_post(item.channel, now):
                pacing.last_post[item.channel] = now
                chosen.append(item)
        elif pacing.take_update(now, item.news or item.settled
                                or now - item.since >= pacing.max_wait_s):
            chosen.append(item)
    return chosen
