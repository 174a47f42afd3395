"""The notifier: one Slack message per alert, updated in place, coalesced, paced, retried."""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
import unicodedata
from typing import Any

import pytest
import redis
from fake_slack import FakeSlack, buttons

from socbot.bot.notifier import (
    DIRTY,
    GROUP,
    SlackNotifier,
    TerminalNotifier,
    clean,
    make_web_client,
)
from socbot.core.actions import ActionStore
from socbot.core.alerts import AlertStore, Signal
from socbot.core.config import Routing, Secrets, Settings, SlackSettings
from socbot.core.streams import ALERTS, Consumer, Producer

HOSTILE = "<!channel>\x1b[2J\x1b]0;pwned\x07\r\n\u202eevil\x00 <https://evil.example|Approve>"


def signal(n: int = 1, **overrides: Any) -> Signal:
    values: dict[str, Any] = {
        "rule_id": "secure.ssh_brute_force", "title": "SSH brute force", "severity": "high",
        "dedup_key": "203.0.113.7", "entity": {"type": "ip", "value": "203.0.113.7"},
        "event_ids": [f"ev-{n}"],
        "timestamp": 1700000000.0 + n, "dataset": "secure", "context": {"host.name": "bastion"},
        "playbooks": []}
    values.update(overrides)
    return Signal(**values)


class Pipeline:
    """Alerts recorded in Redis, entries on {soc}:alerts, a consumer and a Slack notifier."""

    def __init__(self, slack: FakeSlack, client: redis.Redis, settings: Settings, *,
                 flush_after_batch: bool = True) -> None:
        self.slack = slack
        self.redis = client
        self.alerts, self.actions = AlertStore(client), ActionStore(client)
        self.web = make_web_client(Secrets(slack_bot_token="xoxb-test", slack_api_url=slack.url))
        self.notifier = SlackNotifier(settings, self.web, self.alerts, self.actions,
                                      post_interval_s=0, update_interval_s=0)
        self.consumer = Consumer(client, ALERTS, GROUP, "notify-test", self.notifier.handle,
                                 block_ms=0, after_batch=self.notifier.flush
                                 if flush_after_batch else None)

    def signal(self, n: int = 1, **overrides: Any) -> str:
        """Record a signal and queue its entry, as the detection worker does."""
        alert_id, outcome = self.alerts.record(signal(n, **overrides))
        Producer(self.redis).add(ALERTS, {"alert_id": alert_id, "kind": outcome})
        return alert_id

    def batch(self) -> int:
        """One consumer batch (and the flush the consumer runs after it)."""
        return self.consumer.step(block_ms=0)


@pytest.fixture
def pipeline(slack: FakeSlack, redis_client: redis.Redis) -> Pipeline:
    return Pipeline(slack, redis_client, Settings())


def count_in(params: dict[str, Any]) -> str:
    return json.dumps(params["blocks"])


def test_a_new_alert_is_posted_once_and_its_message_remembered(pipeline: Pipeline) -> None:
    alert_id = pipeline.signal()
    assert pipeline.batch() == 1

    [post] = pipeline.slack.calls("chat.postMessage")
    assert post.params["channel"] == "#security-alerts"
    assert post.params["unfurl_links"] is False
    alert = pipeline.alerts.get(alert_id)
    assert alert is not None
    assert alert.slack_channel == pipeline.slack.channel_id("#security-alerts")
    assert (alert.slack_channel, alert.slack_ts) in pipeline.slack.messages


def test_updates_edit_the_same_message_as_the_count_grows(pipeline: Pipeline) -> None:
    alert_id = pipeline.signal(1)
    pipeline.batch()
    assert pipeline.signal(2) == alert_id
    pipeline.batch()

    assert len(pipeline.slack.calls("chat.postMessage")) == 1
    [update] = pipeline.slack.calls("chat.update")
    alert = pipeline.alerts.get(alert_id)
    assert alert is not None
    assert (update.params["channel"], update.params["ts"]) == (alert.slack_channel, alert.slack_ts)
    assert "2 event(s)" in count_in(update.params)


def test_a_redelivered_new_entry_updates_instead_of_posting_twice(pipeline: Pipeline) -> None:
    alert_id = pipeline.signal()
    for _ in range(2):
        pipeline.notifier.handle("1-0", {"alert_id": alert_id, "kind": "new"})
        pipeline.notifier.flush()

    assert len(pipeline.slack.calls("chat.postMessage")) == 1
    assert len(pipeline.slack.calls("chat.update")) == 1


def test_many_updates_in_one_batch_give_one_chat_update(pipeline: Pipeline) -> None:
    alert_id = pipeline.signal(0)
    pipeline.batch()
    for n in range(1, 31):
        pipeline.signal(n)
    assert pipeline.batch() == 30

    [update] = pipeline.slack.calls("chat.update")
    assert "31 event(s)" in count_in(update.params)
    assert pipeline.redis.hlen(DIRTY) == 0
    assert pipeline.alerts.get(alert_id).count == 31  # type: ignore[union-attr]


def test_entries_acknowledged_before_a_crash_are_delivered_by_the_next_notifier(
        slack: FakeSlack, redis_client: redis.Redis) -> None:
    # A notifier that handles and acknowledges its batches, then dies before any pass.
    crashing = Pipeline(slack, redis_client, Settings(), flush_after_batch=False)
    crashing.signal(1)
    crashing.batch()
    crashing.signal(2)
    crashing.batch()
    assert slack.log == []
    assert redis_client.xpending(ALERTS, GROUP)["pending"] == 0

    successor = Pipeline(slack, redis_client, Settings())
    successor.notifier.flush()
    [post] = slack.calls("chat.postMessage")
    assert "2 event(s)" in count_in(post.params)
    assert redis_client.hlen(DIRTY) == 0


def test_alerts_are_routed_by_rule_dataset_and_severity(slack: FakeSlack,
                                                        redis_client: redis.Redis) -> None:
    routing = Routing(default="#alerts", by_severity={"critical": "#pager"},
                      by_dataset={"secure": "#hosts"})
    pipeline = Pipeline(slack, redis_client, Settings(slack=SlackSettings(routing=routing)))
    pipeline.signal(1)
    pipeline.signal(2, rule_id="x.other", dataset="door", dedup_key="d", severity="critical")
    pipeline.signal(3, rule_id="x.third", dataset="wifi", dedup_key="w", severity="low")
    pipeline.batch()

    # Most severe first.
    assert [c.params["channel"] for c in slack.calls("chat.postMessage")] == [
        "#pager", "#hosts", "#alerts"]


def test_a_429_is_retried_after_retry_after(pipeline: Pipeline) -> None:
    pipeline.slack.fail_next("chat.postMessage", 1, status=429, retry_after=1)
    alert_id = pipeline.signal()
    started = time.monotonic()
    pipeline.batch()

    assert time.monotonic() - started >= 1.0
    assert len(pipeline.slack.calls("chat.postMessage")) == 2
    assert pipeline.alerts.get(alert_id).slack_ts  # type: ignore[union-attr]
    assert pipeline.consumer.stats.handled == 1 and pipeline.consumer.stats.failed == 0


def test_a_500_keeps_the_alert_marked_and_the_next_pass_posts_it(pipeline: Pipeline) -> None:
    pipeline.slack.fail_next("chat.postMessage", 1, status=500)
    alert_id = pipeline.signal()
    pipeline.batch()

    assert pipeline.alerts.get(alert_id).slack_ts == ""  # type: ignore[union-attr]
    assert pipeline.redis.hexists(DIRTY, alert_id)
    pipeline.notifier.flush()
    assert pipeline.alerts.get(alert_id).slack_ts  # type: ignore[union-attr]
    assert len(pipeline.slack.top_level(pipeline.slack.channel_id("#security-alerts"))) == 1
    assert not pipeline.redis.hexists(DIRTY, alert_id)


def test_posts_to_one_channel_are_paced(slack: FakeSlack, redis_client: redis.Redis) -> None:
    pipeline = Pipeline(slack, redis_client, Settings())
    pipeline.notifier.pacing.post_interval_s = 0.3
    for n in range(3):
        pipeline.signal(n, dedup_key=f"ip-{n}")
    pipeline.batch()
    assert len(slack.calls("chat.postMessage")) == 1  # a pass never waits for a slot
    stop = threading.Event()
    flusher = threading.Thread(target=pipeline.notifier.run_flusher, args=(stop, 0.02))
    flusher.start()
    try:
        calls = slack.wait_for("chat.postMessage", 3, timeout=5)
    finally:
        stop.set()
        flusher.join()
    times = [c.received for c in calls]
    assert all(b - a >= 0.29 for a, b in itertools.pairwise(times))


def test_an_action_result_is_posted_in_the_thread_and_both_messages_updated(
        pipeline: Pipeline) -> None:
    alert_id = pipeline.signal(playbooks=["revoke-world-ingress"])
    pipeline.batch()
    action = pipeline.actions.create(alert_id, "revoke-world-ingress", "U0ALICE")
    pipeline.actions.set_slack_message(action.id, *_post_approval(pipeline))
    pipeline.actions.finish(action.id, "succeeded", {"summary": "revoked 1 rule", "changed": True})
    Producer(pipeline.redis).add(ALERTS, {"alert_id": alert_id, "kind": "action_result",
                                          "action_id": action.id})
    pipeline.batch()
    pipeline.batch()  # a redelivery would not post the result twice either
    pipeline.notifier.handle("9-0", {"alert_id": alert_id, "kind": "action_result",
                                     "action_id": action.id})

    alert = pipeline.alerts.get(alert_id)
    assert alert is not None
    results = [c.params for c in pipeline.slack.calls("chat.postMessage")
               if c.params.get("thread_ts") == alert.slack_ts]
    assert len(results) == 1 and "revoked 1 rule" in results[0]["text"]
    updated = {c.params["ts"] for c in pipeline.slack.calls("chat.update")}
    stored = pipeline.actions.get(action.id)
    assert stored is not None and {alert.slack_ts, stored.slack_ts} <= updated
    approval = pipeline.slack.messages[(stored.slack_channel, stored.slack_ts)]
    assert "Succeeded: revoked 1 rule" in json.dumps(approval["blocks"]) and not buttons(approval)


def _post_approval(pipeline: Pipeline) -> tuple[str, str]:
    posted = pipeline.web.chat_postMessage(channel="#security-alerts", text="approval")
    return posted["channel"], posted["ts"]


def test_make_web_client_uses_the_configured_api_url(slack: FakeSlack) -> None:
    client = make_web_client(Secrets(slack_bot_token="xoxb-1", slack_api_url=slack.url.rstrip("/")))
    assert client.auth_test()["user_id"] == "UBOT0001"
    assert slack.calls("auth.test")[0].headers["authorization"] == "Bearer xoxb-1"


# --- terminal --------------------------------------------------------------------------------

def test_clean_removes_control_characters_and_bidi_overrides() -> None:
    assert clean("a\x1b[2Jb\x07c\x9bd\u202ee\nf\tg\x00") == "a[2Jbcde f g"


def test_terminal_output_for_hostile_strings_has_no_control_characters(
        redis_client: redis.Redis) -> None:
    alerts, actions = AlertStore(redis_client), ActionStore(redis_client)
    out = io.StringIO()
    terminal = TerminalNotifier(alerts, actions, stream=out)
    alert_id, _ = alerts.record(signal(title=f"Login {HOSTILE}",
                                       entity={"type": "user", "value": HOSTILE},
                                       context={"ssid": HOSTILE},
                                       playbooks=["revoke-world-ingress"]))
    terminal.handle("1-0", {"alert_id": alert_id, "kind": "new"})

    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0].startswith("=== [HIGH] Login <!channel>[2J]0;pwned")
    assert any(line.startswith("entity: user <!channel>") for line in lines)
    assert "count 1; first seen 2023-11-14 22:13 UTC" in text
    assert "suggested playbooks: revoke-world-ingress" in text
    for char in text:
        assert char == "\n" or (unicodedata.category(char) != "Cc"
                                and char not in "\u202a\u202b\u202c\u202d\u202e"), repr(char)
    # A hostile value cannot add lines of its own: one line per field.
    assert len(lines) == 6 and lines[-1] == ""  # the block ends with one blank line


def test_terminal_updates_are_one_line_per_alert_per_batch(redis_client: redis.Redis) -> None:
    alerts, actions = AlertStore(redis_client), ActionStore(redis_client)
    out = io.StringIO()
    terminal = TerminalNotifier(alerts, actions, stream=out)
    first, _ = alerts.record(signal(1))
    other, _ = alerts.record(signal(1, dedup_key="198.51.100.9"))
    for n in range(2, 7):
        alerts.record(signal(n))
        terminal.handle(f"{n}-0", {"alert_id": first, "kind": "updated"})
    terminal.handle("9-0", {"alert_id": other, "kind": "updated"})
    assert out.getvalue() == ""

    terminal.flush()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{first} [HIGH] SSH brute force: count 6")
    terminal.flush()
    assert len(out.getvalue().splitlines()) == 2


def test_a_paced_flush_never_sleeps_and_leaves_the_rest_for_later(
        slack: FakeSlack, redis_client: redis.Redis) -> None:
    pipeline = Pipeline(slack, redis_client, Settings())
    ids = [pipeline.signal(0, dedup_key=f"ip-{n}") for n in range(3)]
    pipeline.batch()
    # One token every 0.5 s, none saved up: updates strictly spaced.
    pacing = pipeline.notifier.pacing
    pacing.update_interval_s, pacing.update_burst, pacing.update_reserve = 0.5, 1.0, 0.0
    for n, _alert_id in enumerate(ids):
        pipeline.signal(1, dedup_key=f"ip-{n}")
    started = time.monotonic()
    pipeline.batch()

    assert time.monotonic() - started < 0.4  # no sleeping in the consumer's thread
    assert len(slack.calls("chat.update")) == 1 and redis_client.hlen(DIRTY) == 2
    stop = threading.Event()
    flusher = threading.Thread(target=pipeline.notifier.run_flusher, args=(stop, 0.05))
    flusher.start()
    try:
        slack.wait_for("chat.update", 3, timeout=5)
    finally:
        stop.set()
        flusher.join()
    times = [c.received for c in slack.calls("chat.update")]
    assert all(b - a >= 0.45 for a, b in itertools.pairwise(times))
    assert {c.params["ts"] for c in slack.calls("chat.update")} == {
        pipeline.alerts.get(a).slack_ts for a in ids}  # type: ignore[union-attr]
    assert redis_client.hlen(DIRTY) == 0
