"""contain-unapproved-ami against moto's server."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto_server import REGION, MotoServer
from playbook_env import (
    AMI,
    context,
    describe,
    instance,
    mutating,
    playbook,
    recorded_calls,
    session,
)

from socbot.playbooks.base import PlaybookFailed

APPROVED = "ami-0aaaaaaaaaaaaaaaa"


@pytest.fixture
def ec2(aws: MotoServer) -> Any:
    """An EC2 client on moto."""
    return boto3.client("ec2", region_name=REGION)


def state(ec2: Any, instance_id: str) -> str:
    """The instance's state name."""
    return str(describe(ec2, instance_id)["State"]["Name"])


def test_an_unapproved_instance_is_tagged_and_stopped_and_undo_starts_it(ec2: Any) -> None:
    made = instance(ec2)
    pb = playbook("contain-unapproved-ami", approved_amis=[APPROVED])
    target = pb.target(context(instance_id=made["instance_id"], image_id=AMI))
    result = pb.run(session(), target)
    assert result.changed and state(ec2, made["instance_id"]) in ("stopping", "stopped")
    assert "socbot:contained" in {t["Key"] for t in describe(ec2, made["instance_id"])["Tags"]}
    assert result.undo == {"operation": "ec2:StartInstances",
                           "InstanceIds": [made["instance_id"]]}
    assert pb.undo(session(), target, result.undo).changed
    assert state(ec2, made["instance_id"]) in ("pending", "running")


def test_second_run_changes_nothing(ec2: Any) -> None:
    made = instance(ec2)
    pb = playbook("contain-unapproved-ami", approved_amis=[APPROVED])
    target = pb.target(context(instance_id=made["instance_id"]))
    pb.run(session(), target)
    with recorded_calls(s := session()) as calls:
        second = pb.run(s, target)
    assert not second.changed and "already stop" in second.summary and mutating(calls) == []


def test_an_approved_ami_is_refused(ec2: Any) -> None:
    made = instance(ec2, image_id=APPROVED)
    pb = playbook("contain-unapproved-ami", approved_amis=[APPROVED])
    with pytest.raises(PlaybookFailed, match="refusing: .* is in approved_amis"):
        pb.run(session(), pb.target(context(instance_id=made["instance_id"])))
    assert state(ec2, made["instance_id"]) == "running"


def test_an_empty_approved_list_is_refused(ec2: Any) -> None:
    made = instance(ec2)
    pb = playbook("contain-unapproved-ami")
    with pytest.raises(PlaybookFailed, match="approved_amis is empty"):
        pb.run(session(), pb.target(context(instance_id=made["instance_id"])))


def test_an_alert_ami_that_differs_from_the_instance_is_refused(ec2: Any) -> None:
    made = instance(ec2)
    pb = playbook("contain-unapproved-ami", approved_amis=[APPROVED])
    with pytest.raises(PlaybookFailed, match="not ami-0bbbbbbbbbbbbbbbb as the alert says"):
        pb.run(session(), pb.target(context(instance_id=made["instance_id"],
                                            image_id="ami-0bbbbbbbbbbbbbbbb")))


def test_terminate_mode_is_destructive_needs_two_approvals_and_snapshots_first(ec2: Any) -> None:
    cls = type(playbook("contain-unapproved-ami"))
    assert cls.approvals_for({}) == 1 and cls.approvals_for({"mode": "stop"}) == 1
    assert cls.approvals_for({"mode": "terminate"}) == 2 and cls.is_destructive(
        {"mode": "terminate"})
    made = instance(ec2, volumes=1)
    pb = playbook("contain-unapproved-ami", {"mode": "terminate"}, approved_amis=[APPROVED])
    target = pb.target(context(instance_id=made["instance_id"]))
    with recorded_calls(s := session()) as calls:
        result = pb.run(s, target)
    assert state(ec2, made["instance_id"]) in ("shutting-down", "terminated")
    assert len(result.undo["snapshots"]) == 2 and result.undo["irreversible"] == "terminated"
    assert calls.index("TerminateInstances") > max(
        i for i, c in enumerate(calls) if c == "CreateSnapshot")
    assert not pb.run(session(), target).changed


def test_dry_run_makes_no_mutating_call(ec2: Any) -> None:
    made = instance(ec2)
    pb = playbook("contain-unapproved-ami", {"mode": "terminate"}, approved_amis=[APPROVED])
    with recorded_calls(s := session()) as calls:
        result = pb.run(s, pb.target(context(instance_id=made["instance_id"])), dry_run=True)
    assert result.dry_run and "TERMINATE" in result.summary and mutating(calls) == []
    assert state(ec2, made["instance_id"]) == "running"
