"""Exactly one message per alert across crashes: a notifier process killed while Slack is
posting leaves a post intent, and the next notifier finds the message instead of posting again.

Real parts: ``socbot run --role notify`` as a process, real Redis, the fake Slack over HTTP
holding its answer to one ``chat.postMessage`` (the message exists; its ts never reaches the
killed process).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import redis
from fake_slack import FakeSlack

from socbot.core.alerts import AlertStore, Signal
from socbot.core.streams import ALERTS, Producer

ALERTS_COUNT = 40


def channel_of(n: int) -> str:
    return f"C{n:08d}"


def account_of(n: int) -> str:
    return f"{111100000000 + n}"


def notifier(tmp_path: Path, slack: FakeSlack, redis_url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SOCBOT_"))}
    env.update(REDIS_URL=redis_url, SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="s",
               SLACK_API_URL=slack.url, SOCBOT_CONFIG=str(tmp_path / "socbot.yml"),
               SOCBOT_STATE_DIR=str(tmp_path), HOME=str(tmp_path))
    return subprocess.Popen([sys.executable, "-m", "socbot.bot.cli", "run", "--role", "notify",
                             "--listen", "127.0.0.1:0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_notifier_killed_during_chat_post_message_posts_each_alert_once(
        tmp_path: Path, slack: FakeSlack, redis_client: redis.Redis, redis_url: str) -> None:
    # One channel per alert (by account), so pacing does not make the test slow.
    routes = "".join(f'      "{account_of(n)}": "{channel_of(n)}"\n'
                     for n in range(ALERTS_COUNT))
    (tmp_path / "socbot.yml").write_text(
        "enrichment:\n  enabled: false\nslack:\n  routing:\n    by_account:\n" + routes)
    store = AlertStore(redis_client)
    ids = []
    for n in range(ALERTS_COUNT):
        alert_id, outcome = store.record(Signal(
            rule_id="secure.ssh_brute_force", title=f"SSH brute force from 203.0.113.{n}",
            severity="high", dedup_key=f"203.0.113.{n}",
            entity={"type": "ip", "value": f"203.0.113.{n}"}, event_ids=[f"ev-{n}"],
            timestamp=1700000000.0 + n, dataset="secure",
            context={"cloud.account.id": account_of(n)}))
        Producer(redis_client).add(ALERTS, {"alert_id": alert_id, "kind": outcome})
        ids.append(alert_id)
    slack.hold_next("chat.postMessage", 60, after=9)

    first = notifier(tmp_path, slack, redis_url)
    try:
        slack.wait_for("chat.postMessage", 10, timeout=30)
        time.sleep(0.3)  # the tenth post is in Slack; its answer is held
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert sum(bool(a.slack_ts) for a in map(store.get, ids) if a) == 9

    second = notifier(tmp_path, slack, redis_url)
    try:
        # The killed process still holds its post lock on the tenth alert for 20 s.
        wait(lambda: all(a and a.slack_ts for a in map(store.get, ids)), 45,
             "every alert posted")
        slack.settle(quiet=0.5)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=10)

    posts = slack.calls("chat.postMessage")
    assert len(posts) == ALERTS_COUNT
    per_alert = Counter(p.params["metadata"]["event_payload"]["alert_id"] for p in posts)
    assert set(per_alert) == set(ids) and set(per_alert.values()) == {1}
    top_level = [m for n in range(ALERTS_COUNT) for m in slack.top_level(channel_of(n))]
    assert len(top_level) == ALERTS_COUNT
    # The orphan was adopted: the alert points at the message the killed process posted.
    orphan = posts[9].params["metadata"]["event_payload"]["alert_id"]
    alert = store.get(orphan)
    assert alert is not None
    assert (alert.slack_channel, alert.slack_ts) in slack.messages
    assert slack.calls("conversations.history")
    assert not list(redis_client.scan_iter("{soc}:notify:intent:*"))
