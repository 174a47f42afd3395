"""The playbook runner over a real Redis and moto's server."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest
import redis
from moto_server import ACCOUNT, REGION, MotoServer

from socbot.core.actions import Action, ActionStore
from socbot.core.alerts import AlertStore, Signal
from socbot.core.streams import ACTIONS, ALERTS, AUDIT, Consumer
from socbot.playbooks.base import Plan, Playbook, Result, Target
from socbot.playbooks.registry import PlaybookRegistry
from socbot.playbooks.revoke_world_ingress import RevokeWorldIngress
from socbot.playbooks.runner import GROUP, ActionRunner
from socbot.playbooks.session import SessionFactory

WORLD_SSH = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


class TwoPersonRevoke(RevokeWorldIngress):
    """revoke-world-ingress declared as needing two approvers."""

    name = "revoke-world-ingress-2p"
    approvals_required = 2


class CountingPlaybook(Playbook):
    """Counts its runs; touches no AWS resource."""

    name = "count-runs"
    description = "count"
    permissions = ("sts:GetCallerIdentity",)
    runs = 0
    lock = threading.Lock()

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """Always something to do."""
        return Plan([{"run": True}], "count one run")

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Count, slowly enough for concurrent runners to overlap."""
        with CountingPlaybook.lock:
            CountingPlaybook.runs += 1
        time.sleep(0.05)
        return Result(changed=True, summary="counted")


class SlowPlaybook(Playbook):
    """Waits until released: for the time limit."""

    name = "slow"
    description = "slow"
    permissions = ("sts:GetCallerIdentity",)
    timeout_s = 0.3
    release = threading.Event()

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """Block until released (or 10 s)."""
        SlowPlaybook.release.wait(10)
        return Plan([], "nothing")


@pytest.fixture
def registry() -> PlaybookRegistry:
    """The real playbook plus the test ones."""
    registry = PlaybookRegistry()
    for cls in (RevokeWorldIngress, TwoPersonRevoke, CountingPlaybook, SlowPlaybook):
        registry.register(cls)
    return registry


@pytest.fixture
def ec2(aws: MotoServer) -> Any:
    """An EC2 client on moto."""
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def runner(redis_client: redis.Redis, aws: MotoServer,
           registry: PlaybookRegistry) -> ActionRunner:
    """A runner acting with the local (moto) credentials."""
    return ActionRunner(redis_client, ActionStore(redis_client), AlertStore(redis_client),
                        SessionFactory(None, None), registry=registry)


def make_group(ec2: Any, *permissions: dict[str, Any]) -> str:
    """A security group with the given ingress; return its id."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group: str = ec2.create_security_group(GroupName="web", Description="web",
                                           VpcId=vpc)["GroupId"]
    if permissions:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=list(permissions))
    return group


def world_open(ec2: Any, group: str) -> bool:
    """Whether any ingress rule of the group admits 0.0.0.0/0."""
    perms = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    return any(r["CidrIp"] == "0.0.0.0/0" for p in perms for r in p.get("IpRanges", []))


def request(runner: ActionRunner, group: str, playbook: str = "revoke-world-ingress", *,
            approvals_required: int = 1, approvers: tuple[str, ...] = ("U2",)) -> Action:
    """An alert naming ``group`` and a request on it, approved by ``approvers``."""
    context = {"group_id": group, "cloud.region": REGION, "cloud.account.id": ACCOUNT}
    signal = Signal(rule_id="aws.sg_world_open", title="SG open to the world", severity="high",
                    dedup_key=group, entity={"type": "security_group", "value": group},
                    event_ids=["e1"],
                    timestamp=time.time(), dataset="cloudtrail", context=context)
    alert_id, _ = runner.alerts.record(signal)
    action = runner.actions.create(alert_id, playbook, "U1",
                                   approvals_required=approvals_required)
    for user in approvers:
        current = runner.actions.get(action.id)
        assert current is not None
        runner.actions.decide(action.id, user, current.token, "approve")
    found = runner.actions.get(action.id)
    assert found is not None
    return found


def stored(runner: ActionRunner, action: Action) -> Action:
    """The action as it is in Redis now."""
    found = runner.actions.get(action.id)
    assert found is not None
    return found


def announcements(client: redis.Redis) -> list[dict[str, str]]:
    """The entries on {soc}:alerts."""
    entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(ALERTS)  # type: ignore[assignment]
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in entries]


def test_approved_action_runs_from_the_stream_and_its_result_is_announced(
        runner: ActionRunner, redis_client: redis.Redis, ec2: Any) -> None:
    group = make_group(ec2, WORLD_SSH)
    action = request(runner, group)  # approved: the approval itself queued the run
    consumer = Consumer(redis_client, ACTIONS, GROUP, "test", runner.handle)
    assert consumer.step(block_ms=100) == 1
    done = stored(runner, action)
    assert done.status == "succeeded", done.error
    assert done.result["changed"] is True and "revoked 1 rule(s)" in done.result["summary"]
    assert done.result["undo"]["IpPermissions"] == [WORLD_SSH]
    assert not world_open(ec2, group)
    assert announcements(redis_client) == [
        {"alert_id": action.alert_id, "kind": "action_result", "action_id": action.id}]
    assert redis_client.xpending(ACTIONS, GROUP)["pending"] == 0
    trail = [{k.decode(): v.decode() for k, v in f.items()} for _, f in redis_client.xrange(AUDIT)]
    assert [(e["what"], e["result"].split(":")[0]) for e in trail] == [
        ("run:revoke-world-ingress", "running"), ("run:revoke-world-ingress", "succeeded")]


def test_an_action_not_yet_approved_is_not_run(
        runner: ActionRunner, redis_client: redis.Redis, ec2: Any) -> None:
    group = make_group(ec2, WORLD_SSH)
    action = request(runner, group, approvers=())
    runner.handle("1-0", {"action_id": action.id})
    assert stored(runner, action).status == "requested"
    assert world_open(ec2, group)
    assert announcements(redis_client) == []


def test_a_redelivered_entry_does_not_run_the_action_again(
        runner: ActionRunner, ec2: Any) -> None:
    group = make_group(ec2, WORLD_SSH)
    action = request(runner, group)
    runner.handle("1-0", {"action_id": action.id})
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[WORLD_SSH])
    runner.handle("1-0", {"action_id": action.id})
    assert world_open(ec2, group)
    assert stored(runner, action).status == "succeeded"


def test_concurrent_runners_run_an_action_once(
        runner: ActionRunner, redis_client: redis.Redis, ec2: Any) -> None:
    CountingPlaybook.runs = 0
    action = request(runner, "sg-0123456789abcdef0", "count-runs")
    runners = [ActionRunner(redis_client, ActionStore(redis_client), AlertStore(redis_client),
                            runner.sessions, registry=runner.registry) for _ in range(8)]
    start = threading.Barrier(len(runners))

    def run(each: ActionRunner) -> None:
        start.wait()
        each.handle("1-0", {"action_id": action.id})

    threads = [threading.Thread(target=run, args=(each,)) for each in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert CountingPlaybook.runs == 1
    assert stored(runner, action).status == "succeeded"


def test_fewer_approvals_than_the_playbook_declares_refuse_the_run(
        runner: ActionRunner, redis_client: redis.Redis, ec2: Any) -> None:
    group = make_group(ec2, WORLD_SSH)
    # A request opened with too low a count (a bug upstream) and approved by one person.
    action = request(runner, group, "revoke-world-ingress-2p", approvals_required=1)
    assert action.status == "approved"
    runner.handle("1-0", {"action_id": action.id})
    refused = stored(runner, action)
    assert refused.status == "failed"
    assert "needs 2 approval(s)" in refused.error and "has 1" in refused.error
    assert world_open(ec2, group)
    assert [entry["action_id"] for entry in announcements(redis_client)] == [action.id]


def test_an_invalid_group_id_in_the_alert_fails_before_any_aws_call(
        runner: ActionRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    # Any AWS call would now fail to connect, and say so instead of the input error.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    action = request(runner, "sg-12345678 sg-87654321")
    runner.handle("1-0", {"action_id": action.id})
    failed = stored(runner, action)
    assert failed.status == "failed"
    assert failed.error.startswith("alert field 'group_id' must be a security group id")


def test_an_unknown_group_fails_with_a_clear_message(runner: ActionRunner) -> None:
    action = request(runner, "sg-0123456789abcdef0")
    runner.handle("1-0", {"action_id": action.id})
    failed = stored(runner, action)
    assert failed.status == "failed"
    assert "InvalidGroup.NotFound" in failed.error and "does not exist" in failed.error
    assert failed.result == {}


def test_a_run_past_the_playbook_time_limit_fails_and_says_so(runner: ActionRunner) -> None:
    SlowPlaybook.release.clear()
    action = request(runner, "sg-0123456789abcdef0", "slow")
    started = time.monotonic()
    try:
        runner.handle("1-0", {"action_id": action.id})
    finally:
        SlowPlaybook.release.set()
    assert time.monotonic() - started < 5
    failed = stored(runner, action)
    assert failed.status == "failed"
    assert "did not finish within 0.3 s" in failed.error


class HalfwayPlaybook(Playbook):
    """Changes one thing, then AWS refuses the second: the first change must not be lost."""

    name = "halfway"
    description = "halfway"
    permissions = ("sts:GetCallerIdentity",)
    seen_settings: list[Any] = []

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """Two steps."""
        HalfwayPlaybook.seen_settings.append(self.settings.approved_amis)
        return Plan([{"step": 1}, {"step": 2}], "two steps")

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Step 1 works; step 2 is refused."""
        from socbot.playbooks.base import PlaybookFailed

        raise PlaybookFailed("step 2 failed with UnauthorizedOperation", "UnauthorizedOperation",
                             partial=Result(changed=True, summary="step 1 done",
                                            undo={"step": 1}))


def test_a_failed_run_keeps_the_undo_data_of_what_it_changed(
        redis_client: redis.Redis, aws: MotoServer) -> None:
    from socbot.core.config import Settings

    registry = PlaybookRegistry()
    registry.register(HalfwayPlaybook)
    runner = ActionRunner(redis_client, ActionStore(redis_client), AlertStore(redis_client),
                          SessionFactory(None, None), registry=registry,
                          settings=Settings(approved_amis=["ami-0aaaaaaaaaaaaaaaa"]))
    HalfwayPlaybook.seen_settings.clear()
    action = request(runner, "sg-0123456789abcdef0", "halfway")
    runner.handle("1-0", {"action_id": action.id})
    failed = stored(runner, action)
    assert failed.status == "failed" and "step 2 failed" in failed.error
    assert failed.result["undo"] == {"step": 1} and failed.result["summary"] == "step 1 done"
    assert HalfwayPlaybook.seen_settings == [["ami-0aaaaaaaaaaaaaaaa"]]


def test_a_configured_time_limit_overrides_the_playbook_own(
        redis_client: redis.Redis, aws: MotoServer, registry: PlaybookRegistry) -> None:
    from socbot.core.config import Settings

    settings = Settings.model_validate({"playbooks": {"timeouts": {"slow": 0.1}}})
    runner = ActionRunner(redis_client, ActionStore(redis_client), AlertStore(redis_client),
                          SessionFactory(None, None), registry=registry, settings=settings)
    assert runner.timeout_for(SlowPlaybook) == 0.1
    assert runner.timeout_for(CountingPlaybook) == settings.playbooks.timeout_s
    SlowPlaybook.release.clear()
    action = request(runner, "sg-0123456789abcdef0", "slow")
    try:
        runner.handle("1-0", {"action_id": action.id})
    finally:
        SlowPlaybook.release.set()
    assert "did not finish within 0.1 s" in stored(runner, action).error
