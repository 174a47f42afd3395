"""Storm rollups over signed HTTP: the real Bolt app and notifier, the fake Slack, real Redis.

A storm (five alerts of one rule in one channel within 60 s, the default) becomes one message
listing its members, updated in place; later alerts join it; its bulk buttons and the member
picker work from signed clicks and are idempotent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fake_slack import FakeSlack, block_action_body, signed_post, strings
from slack_harness import APPROVER, MALLORY, RESPONDER, SECRET, Harness, eventually, harness

from socbot.bot.rollup_blocks import ACK_ALL, MUTE_ALL, PICK
from socbot.core import keys
from socbot.core.alerts import Signal
from socbot.core.streams import AUDIT, Consumer

RULE = "secure.ssh_brute_force"


@pytest.fixture
def bot(slack: FakeSlack, redis_client: redis.Redis) -> Iterator[Harness]:
    with harness(slack, redis_client) as served:
        yield served


def open_alert(bot: Harness, ip: str, *, severity: str = "high", events: int = 1,
               host: str = "web01", title: str | None = None) -> str:
    """Record ``events`` signals for ``ip`` and mark the alert as the detection stage does."""
    alert_id = ""
    for n in range(events):
        alert_id, outcome = bot.alerts.record(Signal(
            rule_id=RULE, title=title or f"SSH brute force from {ip}", severity=severity,
            dedup_key=ip, entity={"type": "ip", "value": ip},
            event_ids=[f"{ip}-{n}-{time.time_ns()}"], timestamp=time.time(), dataset="secure",
            context={"source.ip": ip, "host.name": host}))
        bot.notifier.handle("1-0", {"alert_id": alert_id, "kind": outcome})
    return alert_id


def top_level(bot: Harness) -> list[dict[str, Any]]:
    return bot.slack.top_level(bot.slack.channel_id("#security-alerts"))


def rollup_of(bot: Harness) -> dict[str, Any]:
    [message] = [m for m in top_level(bot)
                 if m["metadata"]["event_payload"]["alert_id"].startswith("R")]
    return message


def rollup_id(bot: Harness) -> str:
    return str(rollup_of(bot)["metadata"]["event_payload"]["alert_id"])


def click(bot: Harness, user: str, action_id: str, value: str, *,
          selected: str | None = None) -> None:
    rid = rollup_id(bot)
    stored = bot.redis.hgetall(keys.rollup(rid))
    body = block_action_body(user=user, action_id=action_id, value=value,
                             channel=stored[b"slack_channel"].decode(),
                             message_ts=stored[b"slack_ts"].decode(), block_id=f"rollup:{rid}",
                             selected=selected)
    assert signed_post(bot.url, SECRET, body).status == 200


def test_a_storm_is_one_message_listing_its_members_most_severe_first(bot: Harness) -> None:
    ids = [open_alert(bot, f"203.0.113.{n}", host=f"web0{n % 3}") for n in range(1, 6)]
    busiest = open_alert(bot, "203.0.113.9", events=4)
    critical = open_alert(bot, "198.51.100.66", severity="critical")
    bot.notifier.flush()

    [message] = top_level(bot)
    text = json.dumps(message["blocks"])
    assert message["text"] == "[CRITICAL] SSH brute force from 7 addresses on 3 hosts"
    assert "7 alerts of `secure.ssh_brute_force`" in text
    listed = [line.split("`")[1] for line in message["blocks"][2]["text"]["text"].split("\n")]
    assert listed[:2] == [critical, busiest] and sorted(listed[2:]) == sorted(ids)
    assert bot.redis.hlen(keys.NOTIFY_DIRTY) == 0
    # Each member is still an alert of its own.
    answer = json.dumps(bot.command(RESPONDER, f"alert {ids[0]}"))
    assert "203.0.113.1" in answer


def test_later_alerts_join_the_rollup_which_is_updated_in_place(bot: Harness) -> None:
    for n in range(1, 6):
        open_alert(bot, f"203.0.113.{n}")
    bot.notifier.flush()
    late = open_alert(bot, "203.0.113.77")
    bot.notifier.flush()

    assert len(top_level(bot)) == 1
    assert len(bot.slack.calls("chat.postMessage")) == 1
    message = rollup_of(bot)
    assert late in json.dumps(message["blocks"]) and "6 alerts" in json.dumps(message["blocks"])
    assert bot.slack.calls("chat.update")
    # A member that grows updates the rollup, never posts.
    open_alert(bot, "203.0.113.77", events=3)
    bot.notifier.flush()
    assert len(bot.slack.calls("chat.postMessage")) == 1


def test_below_the_threshold_alerts_are_posted_one_by_one(bot: Harness) -> None:
    first = [open_alert(bot, f"203.0.113.{n}") for n in range(1, 5)]
    bot.notifier.flush()
    assert len(top_level(bot)) == 4

    fifth = open_alert(bot, "203.0.113.5")
    bot.notifier.flush()
    # The fifth within the window makes a storm: one rollup listing all five; the four
    # messages already posted stay.
    assert len(top_level(bot)) == 5
    listed = json.dumps(rollup_of(bot)["blocks"])
    assert all(alert_id in listed for alert_id in [*first, fifth])
    assert not bot.alerts.get(fifth).slack_ts  # type: ignore[union-attr]


def test_a_storm_written_at_once_is_one_rollup_while_the_flusher_passes(
        bot: Harness) -> None:
    """The detect stage writes a storm's alerts in one batch; the notify stage marks a read's
    alerts in one transaction, so the flusher, passing all the while, sees none or all of them
    and never posts the first on its own before the rollup."""
    entries = []
    for n in range(1, 31):
        ip = f"203.0.113.{n}"
        alert_id, outcome = bot.alerts.record(Signal(
            rule_id=RULE, title=f"SSH brute force from {ip}", severity="high", dedup_key=ip,
            entity={"type": "ip", "value": ip}, event_ids=[f"{ip}-0"], timestamp=time.time(),
            dataset="secure", context={"source.ip": ip}))
        entries.append((f"{n}-0", {"alert_id": alert_id, "kind": outcome}))
    stop = threading.Event()

    def passes() -> None:
        while not stop.is_set():
            bot.notifier.flush()

    flusher = threading.Thread(target=passes)
    flusher.start()
    try:
        consumer = Consumer(bot.redis, "storm-test", "notify", "n1", bot.notifier.handle,
                            batch_handler=bot.notifier.handle_batch)
        for entry_id, fields in entries:
            bot.redis.xadd("storm-test", fields, id=entry_id)
        assert consumer.step(block_ms=0) == len(entries)
    finally:
        stop.set()
        flusher.join()
    bot.notifier.flush()
    [message] = top_level(bot)
    assert message["metadata"]["event_payload"]["alert_id"].startswith("R")
    listed = json.dumps(message["blocks"])
    assert all(fields["alert_id"] in listed for _, fields in entries)


def test_acknowledge_all_acknowledges_every_open_member_once(bot: Harness) -> None:
    ids = [open_alert(bot, f"203.0.113.{n}") for n in range(1, 7)]
    bot.notifier.flush()
    rid = rollup_id(bot)

    click(bot, RESPONDER, ACK_ALL, rid)
    eventually(lambda: all(bot.alerts.get(a).status == "acknowledged"  # type: ignore[union-attr]
                           for a in ids))
    eventually(lambda: "Acknowledge all" not in json.dumps(rollup_of(bot)["blocks"]))
    assert "6 acknowledged" in json.dumps(rollup_of(bot)["blocks"])
    rollup_ts = bot.redis.hget(keys.rollup(rid), "slack_ts").decode()  # type: ignore[union-attr]

    def thread() -> list[str]:
        return [c.params["text"] for c in bot.slack.calls("chat.postMessage")
                if c.params.get("thread_ts") == rollup_ts]

    eventually(thread)  # the line follows the redraw
    assert thread() == [f"Acknowledged 6 alert(s) by <@{RESPONDER}>"]

    click(bot, RESPONDER, ACK_ALL, rid)  # a replayed click
    assert "nothing changed" in bot.wait_ephemeral(RESPONDER)
    acks = [e for _, e in bot.redis.xrange(AUDIT)
            if e[b"what"] == b"ack" and e[b"result"] == b"ok:rollup"]
    assert len(acks) == 6


def test_mute_all_is_for_responders_and_mutes_each_entity_once(bot: Harness) -> None:
    for n in range(1, 6):
        open_alert(bot, f"203.0.113.{n}")
    bot.notifier.flush()
    rid = rollup_id(bot)

    click(bot, MALLORY, f"{MUTE_ALL}_24", f"{rid}|24")
    assert "Only the" in bot.wait_ephemeral(MALLORY)
    assert bot.mutes.is_muted(RULE, "203.0.113.1") is None

    click(bot, APPROVER, f"{MUTE_ALL}_24", f"{rid}|24")
    eventually(lambda: all(bot.mutes.is_muted(RULE, f"203.0.113.{n}") for n in range(1, 6)))
    click(bot, APPROVER, f"{MUTE_ALL}_24", f"{rid}|24")
    assert "muted already" in bot.wait_ephemeral(APPROVER)
    click(bot, APPROVER, f"{MUTE_ALL}_999", f"{rid}|999")  # a forged duration
    assert "not offered" in bot.wait_ephemeral(APPROVER, 2)


def test_picking_a_member_gives_it_a_message_with_buttons_in_the_thread(bot: Harness) -> None:
    ids = [open_alert(bot, f"203.0.113.{n}") for n in range(1, 6)]
    bot.notifier.flush()
    rid = rollup_id(bot)
    rollup_ts = bot.redis.hget(keys.rollup(rid), "slack_ts").decode()  # type: ignore[union-attr]

    click(bot, RESPONDER, PICK, "", selected=ids[2])
    eventually(lambda: bool(bot.alerts.get(ids[2]).slack_ts))  # type: ignore[union-attr]
    member = bot.message(ids[2])
    assert member["thread_ts"] == rollup_ts
    assert any(b.get("action_id") == "alert_ack" and b.get("value") == ids[2]
               for block in member["blocks"] if block["type"] == "actions"
               for b in block["elements"])
    click(bot, RESPONDER, PICK, "", selected=ids[2])  # picked twice: one message
    assert "already has its message" in bot.wait_ephemeral(RESPONDER)
    click(bot, RESPONDER, PICK, "", selected="A0000000000")  # not a member
    assert "not part of this storm" in bot.wait_ephemeral(RESPONDER, 2)

    # Its own Acknowledge button works and the rollup shows it after the next pass.
    assert bot.click(RESPONDER, "alert_ack", ids[2]).status == 200
    eventually(lambda: bot.alerts.get(ids[2]).status == "acknowledged")  # type: ignore[union-attr]
    eventually(lambda: bot.redis.hexists(keys.NOTIFY_DIRTY, rid))
    bot.notifier.flush()
    assert "1 acknowledged" in json.dumps(rollup_of(bot)["blocks"])


def test_hostile_member_text_is_escaped_in_the_rollup(bot: Harness) -> None:
    hostile = "<!channel> <https://evil.example|Approve> & co"
    for n in range(1, 6):
        open_alert(bot, f"203.0.113.{n}", host=hostile, title=f"Brute force {hostile}")
    bot.notifier.flush()

    message = rollup_of(bot)
    for text in [message["text"], *strings(message["blocks"])]:
        assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in json.dumps(message["blocks"])


def test_replay_to_slack_shows_a_storm_as_one_rollup(tmp_path: Path) -> None:
    log = tmp_path / "storm.log"
    log.write_text("".join(
        f"Nov 23 03:00:{n * 60 // 2000:02d} web0{n % 3} sshd[{1000 + n}]: Failed password for "
        f"invalid user admin from 203.0.113.{n % 50 + 1} port {20000 + n} ssh2\n"
        for n in range(2000)))
    done = subprocess.run([sys.executable, "-m", "socbot.bot.cli", "replay", "--source",
                           "secure", "--format", "slack", str(log)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    [message] = [json.loads(line) for line in done.stdout.splitlines()]
    assert message["text"] == "[HIGH] SSH brute force from 50 addresses on 3 hosts"
    assert "50 alerts" in json.dumps(message["blocks"])
    assert "50 alerts" in done.stderr
