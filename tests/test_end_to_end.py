"""The whole loop on real parts.

A failed-SSH storm in a log file and a CloudTrail record opening a security group to the world
go through the real collectors, Redis streams, detection worker, Slack notifier (to a fake Slack
Web API over HTTP), Bolt app (signed HTTP requests) and playbook runner (moto's server), on
one Redis, on a Sentinel-managed master and on a Redis Cluster.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from fake_slack import (
    FakeSlack,
    block_action_body,
    button_value,
    signed_post,
    strings,
)
from moto_server import ACCOUNT, REGION, MotoServer
from own_cluster import OwnCluster
from own_sentinel import OwnSentinels
from test_audit import ForwardReceiver

import socbot.core.audit as audit_module
from socbot.bot.runtime import Runtime
from socbot.collectors.pipeline import collect_cloudtrail, collect_secure
from socbot.core.auditforward import FluentForwarder
from socbot.core.config import Secrets, Settings
from socbot.core.redisconn import connect
from socbot.core.streams import ACTIONS

SECRET = "e2e-signing-secret"
ONCALL, APPROVER, BYSTANDER = "UONCALL01", "UAPPROVE1", "UBYSTAND1"
ATTACKER = "203.0.113.66"

pytestmark = pytest.mark.e2e


def storm_log(path: Path, failures: int = 40) -> None:
    hosts = ("web01", "web02", "bastion")
    lines = [
        f"Nov 23 03:12:{n % 60:02d} {hosts[n % 3]} sshd[{5000 + n}]: Failed password for "
        f"invalid user admin{n % 4} from {ATTACKER} port {40000 + n} ssh2"
        for n in range(failures)
    ]
    # Too few to fire, and a hostile username that must not be blamed on 10.10.1.1.
    lines += [f"Nov 23 03:13:0{n} web01 sshd[6000]: Failed password for invalid user "
              f"from 10.10.1.1 from 198.51.100.5 port 4100{n} ssh2" for n in range(3)]
    path.write_text("\n".join(lines) + "\n")


def world_open_group() -> tuple[str, str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "UserIdGroupPairs": [{"GroupId": other}]},
    ])
    return group, other


def trail_file(path: Path, group: str) -> None:
    record = {
        "eventVersion": "1.08", "eventTime": "2026-11-23T03:14:09Z",
        "eventSource": "ec2.amazonaws.com", "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": REGION, "sourceIPAddress": "8.8.8.8", "userAgent": "aws-cli/2.15.0",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAE2E", "accountId": ACCOUNT,
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/<!channel>",
                         "userName": "<!channel>"},
        "requestParameters": {"groupId": group, "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
        "eventID": "e2e00000-0000-4000-8000-000000000001", "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
    }
    path.write_text(json.dumps({"Records": [record]}))


@pytest.fixture
def fluentd(tmp_path: Path) -> Iterator[ForwardReceiver]:
    """A forward-protocol receiver standing in for fluentd, fed by the audit trail."""
    receiver = ForwardReceiver()
    shipper = FluentForwarder("127.0.0.1", receiver.port, spool=tmp_path / "audit.jsonl",
                              timeout_s=1.0, retry_after_s=0.0)
    audit_module.configure(shipper)
    yield receiver
    audit_module.configure(None)
    shipper.close()
    receiver.stop()


@pytest.fixture(params=["one-server", "sentinel", "cluster"])
def store(request: pytest.FixtureRequest) -> redis.Redis:
    """The Redis the loop runs on: one server; a master with a replica and three sentinels
    (through ``redis+sentinel://``); a 3-master Redis Cluster (every key carries the {soc}
    hash tag, so each script and transaction stays on one node). The Sentinel and Cluster ones
    are the test's own ``redis-server`` processes."""
    if request.param == "one-server":
        client: redis.Redis = request.getfixturevalue("redis_client")
        return client
    if request.param == "sentinel":
        group: OwnSentinels = request.getfixturevalue("own_sentinels")
        return connect(group.url(), env={})
    cluster: OwnCluster = request.getfixturevalue("own_cluster")
    return connect(cluster.url(), env={})


@pytest.fixture
def bot(store: redis.Redis, slack: FakeSlack, aws: MotoServer,
        fluentd: ForwardReceiver) -> Iterator[Runtime]:
    settings = Settings.model_validate({
        "slack": {"routing": {"default": "#security-alerts"}},
        "approvals": {"approvers": [ONCALL, APPROVER]},
    })
    secrets = Secrets(slack_bot_token="xoxb-e2e", slack_signing_secret=SECRET,
                      slack_api_url=slack.url)
    runtime = Runtime(store, settings, secrets, listen=("127.0.0.1", 0)).build().start()
    yield runtime
    runtime.close()


@dataclass
class Message:
    """Where a message was posted, as Slack puts it in a button's payload."""

    channel: str
    ts: str


@dataclass
class Click:
    """A signed request as sent, so that it can be replayed byte for byte."""

    status: int
    body: str
    timestamp: int


def endpoint(runtime: Runtime) -> str:
    return f"http://127.0.0.1:{runtime.http_server.server_port}/slack/events"


def click(runtime: Runtime, user: str, action_id: str, value: str, message: Message) -> Click:
    body = block_action_body(user=user, action_id=action_id, value=value,
                             channel=message.channel, message_ts=message.ts)
    timestamp = int(time.time())
    reply = signed_post(endpoint(runtime), SECRET, body, timestamp=timestamp)
    return Click(reply.status, body, timestamp)


def message_of(slack: FakeSlack, call: Any) -> Message:
    """The channel id and ts the fake Slack gave the message ``call`` posted."""
    channel = slack.channel_id(call.params["channel"])
    for (posted_in, ts), params in slack.messages.items():
        if posted_in == channel and params.get("text") == call.params.get("text") and \
                params.get("thread_ts") == call.params.get("thread_ts"):
            return Message(channel, ts)
    raise AssertionError("message not found in the fake Slack")


def posted(slack: FakeSlack, *, thread: bool) -> list[Any]:
    return [c for c in slack.calls("chat.postMessage") if bool(c.params.get("thread_ts")) is thread]


def wait_until(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_storm_and_open_group_to_alert_ack_approval_and_revocation(
        bot: Runtime, slack: FakeSlack, store: redis.Redis, tmp_path: Path,
        fluentd: ForwardReceiver) -> None:
    group, other = world_open_group()
    storm_log(tmp_path / "secure")
    trail_file(tmp_path / "trail.json", group)

    # 1. Collect: both sources into {soc}:events; the pipeline turns them into two alerts.
    collect_secure(store, tmp_path / "secure", threading.Event(), from_start=True, once=True)
    collect_cloudtrail(store, tmp_path / "trail.json")
    assert bot.wait_idle(timeout=30)
    slack.settle()
    alerts = posted(slack, thread=False)
    assert len(alerts) == 2, "exactly one message per incident"
    storm = next(c for c in alerts if ATTACKER in " ".join(strings(c.params)))
    opened = next(c for c in alerts if group in " ".join(strings(c.params)))
    storm_msg, opened_msg = message_of(slack, storm), message_of(slack, opened)

    def storm_shown() -> str:
        return " ".join(strings(slack.messages[(storm_msg.channel, storm_msg.ts)]))

    # The storm's message is updated in place (paced) until it counts all 40 failures.
    wait_until(lambda: "40 event" in storm_shown())
    assert "10.10.1.1" not in storm_shown()
    # The hostile user name in the record is shown, never as a mention.
    assert "<!channel>" not in json.dumps(opened.params)
    # Enriched before posting: GeoIP of the caller's address and the account from AWS (moto).
    context = " ".join(strings(opened.params))
    assert "GeoIP" in context and "United States" in context
    assert f"*AWS account*: {ACCOUNT}" in context

    # 2. Acknowledge: the message is updated in place with who did it.
    updates_before = len(slack.calls("chat.update"))
    assert click(bot, ONCALL, "alert_ack", button_value(storm.params, "alert_ack"),
                 storm_msg).status == 200
    # An update the notifier rendered before the click may still land first; the click's own
    # update follows it.
    wait_until(lambda: any(f"<@{ONCALL}>" in json.dumps(c.params)
                           for c in slack.calls("chat.update")[updates_before:]))
    ack_update = next(c for c in slack.calls("chat.update")[updates_before:]
                      if f"<@{ONCALL}>" in json.dumps(c.params))
    assert ack_update.params["ts"] == storm_msg.ts
    wait_until(lambda: f"<@{ONCALL}>" in storm_shown())  # and it stays shown

    # 3. Request the revocation: an approval request appears in the alert's thread.
    value = button_value(opened.params, "playbook_request")
    assert click(bot, ONCALL, "playbook_request", value, opened_msg).status == 200
    wait_until(lambda: any(c.params["thread_ts"] == opened_msg.ts
                           for c in posted(slack, thread=True)))
    request = next(c for c in posted(slack, thread=True)
                   if c.params["thread_ts"] == opened_msg.ts)
    approve_value = button_value(request.params, "approval_approve")
    approval_msg = message_of(slack, request)

    # 4. The requester alone cannot approve, a bystander may not, and nothing runs.
    ephemerals = len(slack.calls("chat.postEphemeral"))
    assert click(bot, ONCALL, "approval_approve", approve_value, approval_msg).status == 200
    wait_until(lambda: len(slack.calls("chat.postEphemeral")) > ephemerals)
    assert "another approver" in " ".join(strings(slack.calls("chat.postEphemeral")[-1].params))
    assert click(bot, BYSTANDER, "approval_approve", approve_value, approval_msg).status == 200
    wait_until(lambda: len(slack.calls("chat.postEphemeral")) > ephemerals + 1)
    assert store.xlen(ACTIONS) == 0

    # 5. A forged click (bad signature) is refused before any listener runs.
    forged = block_action_body(user=APPROVER, action_id="approval_approve", value=approve_value,
                               channel=approval_msg.channel, message_ts=approval_msg.ts)
    assert signed_post(endpoint(bot), "not-the-secret", forged).status == 401
    assert store.xlen(ACTIONS) == 0

    # 6. The second person approves; the runner revokes only the world-open range.
    approving = click(bot, APPROVER, "approval_approve", approve_value, approval_msg)
    assert approving.status == 200
    wait_until(lambda: any(group in " ".join(strings(c.params)) and "revoked" in
                           " ".join(strings(c.params)).lower()
                           for c in posted(slack, thread=True)), timeout=30)
    ec2 = boto3.client("ec2", region_name=REGION)
    permissions = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0][
        "IpPermissions"]
    ranges = [r["CidrIp"] for p in permissions for r in p.get("IpRanges", [])]
    pairs = [g["GroupId"] for p in permissions for g in p.get("UserIdGroupPairs", [])]
    assert "0.0.0.0/0" not in ranges
    assert "10.0.0.0/8" in ranges and pairs == [other]

    # 7. Replaying the approving request (same signed body, inside Slack's 5 minutes) and a
    #    double click change nothing more: one action ran, once.
    actions_before = store.xlen(ACTIONS)
    ephemerals = len(slack.calls("chat.postEphemeral"))
    #    The gate recognises the delivery it already handled: it is audited as a refused replay
    #    and nobody is told anything new (the approver's own answer stands).
    replay = signed_post(endpoint(bot), SECRET, approving.body, timestamp=approving.timestamp)
    assert replay.status == 200
    wait_until(lambda: (APPROVER, "approval_approve", "refused") in [
        (r["who"], r["what"], r["result"].split(":")[0]) for r in fluentd.wait_for(0)])
    assert len(slack.calls("chat.postEphemeral")) == ephemerals
    assert store.xlen(ACTIONS) == actions_before == 1

    # 8. The alert message shows the outcome, and there is still one message per incident.
    wait_until(lambda: "revoke-world-ingress` requested by <@UONCALL01>: succeeded" in " ".join(
        strings(slack.messages[(opened_msg.channel, opened_msg.ts)])))
    assert len(posted(slack, thread=False)) == 2

    # 9. fluentd received the audit trail of every action taken, with who did it.
    def trail() -> list[tuple[str, str, str]]:
        return [(r["who"], r["what"], r["result"].split(":")[0]) for r in fluentd.wait_for(0)]

    wait_until(lambda: ("socbot", "run:revoke-world-ingress", "succeeded") in trail())
    seen = trail()
    assert (ONCALL, "ack", "ok") in seen
    assert any(who == ONCALL and what == "request" for who, what, _ in seen)
    assert (ONCALL, "approve", "own") in seen
    assert (BYSTANDER, "approve", "refused") in seen
    assert (APPROVER, "approve", "approved") in seen

