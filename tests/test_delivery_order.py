"""Delivery order under Slack's pacing: new alerts before updates, most severe first, and no
update waits for ever. The notifier runs against the fake Slack with a clock the test moves."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from fake_slack import FakeSlack
from slack_harness import Clock

from socbot.bot.delivery import Pacing, Waiting, next_sends
from socbot.bot.notifier import SlackNotifier, make_web_client
from socbot.core.actions import ActionStore
from socbot.core.alerts import AlertStore, Signal
from socbot.core.config import Secrets, Settings


class Bench:
    """A notifier with real pacing (1 post/s per channel, 1 update per 1.2 s) and a hand clock."""

    def __init__(self, slack: FakeSlack, client: redis.Redis) -> None:
        self.slack, self.redis, self.clock = slack, client, Clock(1000.0)
        self.alerts = AlertStore(client)
        web = make_web_client(Secrets(slack_bot_token="xoxb-test", slack_api_url=slack.url))
        # One alert, one message here: storm rollups have their own tests.
        settings = Settings.model_validate({"slack": {"rollup": {"enabled": False}}})
        self.notifier = SlackNotifier(settings, web, self.alerts, ActionStore(client),
                                      post_interval_s=1.0, update_interval_s=1.2,
                                      max_update_wait_s=5.0, clock=self.clock)
        self.n = 0

    def signal(self, key: str, severity: str = "high", **overrides: Any) -> str:
        """Record one signal for ``key`` and mark its alert as the detection stage does."""
        self.n += 1
        alert_id, outcome = self.alerts.record(Signal(
            rule_id="secure.ssh_brute_force", title=f"SSH brute force from {key}",
            severity=severity, dedup_key=key, entity={"type": "ip", "value": key},
            event_ids=[f"ev-{self.n}"], timestamp=1700000000.0 + self.n, dataset="secure",
            **overrides))
        self.notifier.handle(f"{self.n}-0", {"alert_id": alert_id, "kind": outcome})
        return alert_id

    def posted_now(self, *keys: str) -> None:
        """Post these alerts and forget the calls (the starting state of a test)."""
        for alert_id in keys:
            self.notifier.deliver(alert_id)
        self.redis.delete("{soc}:notify:dirty")
        self.slack.log.clear()

    def sent(self) -> list[str]:
        """``post A…`` / ``update A…`` for every call Slack received, in order."""
        by_ts = {}
        for alert_id in self._alert_ids():
            alert = self.alerts.get(alert_id)
            if alert is not None and alert.slack_ts:
                by_ts[alert.slack_ts] = alert_id
        out = []
        for call in self.slack.log:
            if call.method == "chat.postMessage":
                out.append("post " + call.params["metadata"]["event_payload"]["alert_id"])
            elif call.method == "chat.update":
                out.append("update " + by_ts[call.params["ts"]])
        return out

    def _alert_ids(self) -> list[str]:
        return [k.decode().split(":")[2] for k in self.redis.scan_iter("{soc}:alert:A*")
                if k.count(b":") == 2]

    def run(self, seconds: float, step: float = 0.1) -> None:
        """Passes every ``step`` of clock time for ``seconds``."""
        for _ in range(round(seconds / step)):
            self.notifier.flush()
            self.clock.advance(step)


@pytest.fixture
def bench(slack: FakeSlack, redis_client: redis.Redis) -> Bench:
    return Bench(slack, redis_client)


def test_new_alerts_go_first_most_severe_first_then_updates(bench: Bench) -> None:
    old_low = bench.signal("198.51.100.1", "low")
    old_high = bench.signal("198.51.100.2", "high")
    bench.posted_now(old_low, old_high)
    bench.signal("198.51.100.1", "low")  # both posted alerts grow: two updates owed
    bench.signal("198.51.100.2", "high")
    low = bench.signal("203.0.113.1", "low")
    critical = bench.signal("203.0.113.2", "critical")
    medium = bench.signal("203.0.113.3", "medium")

    bench.run(4.0)

    assert bench.sent() == [
        # t=0: the channel's post slot, then the update budget's two spare tokens
        f"post {critical}", f"update {old_high}", f"update {old_low}",
        f"post {medium}",  # t=1.0
        f"post {low}",  # t=2.0
    ]


def test_a_new_alert_jumps_the_queue_of_waiting_posts(bench: Bench) -> None:
    storm = [bench.signal(f"203.0.113.{n}", "medium") for n in range(1, 6)]
    bench.run(1.5)  # two of the storm posted, three waiting
    late_critical = bench.signal("192.0.2.99", "critical")
    bench.run(5.0)

    posts = [entry.split()[1] for entry in bench.sent() if entry.startswith("post")]
    assert posts[:3] == [storm[0], storm[1], late_critical]
    assert sorted(posts[3:]) == sorted(storm[2:])


def test_an_update_is_never_starved_by_a_stream_of_more_severe_ones(bench: Bench) -> None:
    quiet = bench.signal("198.51.100.1", "low")
    busy = [bench.signal(f"198.51.100.{n}", "critical") for n in (2, 3)]
    bench.posted_now(quiet, *busy)
    bench.signal("198.51.100.1", "low")
    started, sent_at = bench.clock.now, None
    for step in range(100):  # the critical alerts grow without pause for 10 s
        for n in (2, 3):
            bench.signal(f"198.51.100.{n}", "critical")
        if step % 3 == 2:  # the low one grows too, never still long enough to settle
            bench.signal("198.51.100.1", "low")
        bench.run(0.1)
        if sent_at is None and f"update {quiet}" in bench.sent():
            sent_at = bench.clock.now - started

    updates = bench.sent()
    assert all(u.startswith("update A") for u in updates)
    assert updates[0] != f"update {quiet}"  # the critical ones go first...
    # ...but waiting since t=0 with max_wait 5 s, it goes once overdue (the next token).
    assert sent_at is not None and 5.0 <= sent_at <= 6.3


def test_order_is_pure_and_paced_per_channel() -> None:
    pacing = Pacing(post_interval_s=1.0, update_interval_s=1.2, max_wait_s=5.0,
                    update_burst=3.0, update_reserve=2.0)
    waiting = [Waiting("a", "#one", False, 1, since=0.0), Waiting("b", "#two", False, 1, 0.0),
               Waiting("c", "#one", False, 4, since=0.5), Waiting("u", "#one", True, 4, 0.0)]

    assert [w.key for w in next_sends(waiting, now=1.0, pacing=pacing)] == ["c", "b", "u"]
    # Every post slot is taken; a count update waits while only the reserve is left.
    assert next_sends(waiting, now=1.5, pacing=pacing) == []
    assert [w.key for w in next_sends(waiting, now=2.0, pacing=pacing)] == ["c", "b"]
    news = [Waiting("n", "#one", True, 1, since=2.0, news=True)]
    assert [w.key for w in next_sends(news, now=2.0, pacing=pacing)] == ["n"]  # the reserve


def test_news_goes_before_count_updates(bench: Bench) -> None:
    grows = bench.signal("198.51.100.1", "critical")
    raised = bench.signal("198.51.100.2", "low")
    bench.posted_now(grows, raised)
    bench.signal("198.51.100.1", "critical")
    bench.notifier.handle("x-0", {"alert_id": raised, "kind": "severity"})

    bench.run(0.1)

    assert bench.sent() == [f"update {raised}", f"update {grows}"]


def test_news_is_not_held_up_by_an_alert_that_grows_without_pause(bench: Bench) -> None:
    busy = bench.signal("198.51.100.1", "critical")
    other = bench.signal("198.51.100.2", "low")
    bench.posted_now(busy, other)
    for _ in range(200):  # the busy alert grows for 20 s: sent often, never overdue
        bench.signal("198.51.100.1", "critical")
        bench.run(0.1)
    bench.slack.log.clear()
    bench.signal("198.51.100.1", "critical")
    bench.notifier.handle("x-0", {"alert_id": other, "kind": "raised"})

    bench.run(0.1)

    assert bench.sent()[:1] == [f"update {other}"]


def test_a_storm_shows_its_final_figures_as_soon_as_it_stops(bench: Bench) -> None:
    first = bench.signal("198.51.100.1", "high")
    second = bench.signal("198.51.100.2", "high")
    bench.posted_now(first, second)
    for _ in range(60):  # both grow without pause for 6 s: their counts share the budget
        bench.signal("198.51.100.1", "high")
        bench.signal("198.51.100.2", "high")
        bench.run(0.1)
    assert "update" in " ".join(bench.sent())  # counts went out during the storm...
    bench.slack.log.clear()

    bench.run(0.7)  # ...and once it stops, both settle (0.5 s) and go out together

    assert sorted(bench.sent()) == sorted([f"update {first}", f"update {second}"])
    for call in bench.slack.log:
        assert "61 event(s)" in str(call.params["blocks"])  # the final count of each
