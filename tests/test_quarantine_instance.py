"""quarantine-instance against moto's server."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto_server import REGION, MotoServer
from playbook_env import (
    acl_entries,
    context,
    describe,
    instance,
    interface_groups,
    mutating,
    playbook,
    recorded_calls,
    session,
)

from socbot.playbooks.base import PlaybookFailed, PlaybookInputError


@pytest.fixture
def ec2(aws: MotoServer) -> Any:
    """An EC2 client on moto."""
    return boto3.client("ec2", region_name=REGION)


def isolation_group(ec2: Any, vpc_id: str) -> dict[str, Any]:
    """The isolation group of the VPC."""
    groups = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": ["socbot-isolation"]},
        {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    assert len(groups) == 1
    found: dict[str, Any] = groups[0]
    return found


def socbot_snapshots(ec2: Any, instance_id: str) -> list[str]:
    """Volume ids of the snapshots socbot took of the instance."""
    snaps = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:socbot:snapshot-of", "Values": [instance_id]}])["Snapshots"]
    return sorted(s["VolumeId"] for s in snaps)


def test_quarantine_isolates_every_interface_snapshots_every_volume_and_tags(ec2: Any) -> None:
    made = instance(ec2, interfaces=2, volumes=2)
    old = interface_groups(ec2, made["instance_id"])
    assert len(old) == 2
    pb = playbook("quarantine-instance")
    result = pb.run(session(), pb.target(context(instance_id=made["instance_id"])))
    assert result.changed
    group = isolation_group(ec2, made["vpc_id"])
    assert group["IpPermissions"] == [] and group["IpPermissionsEgress"] == []
    assert interface_groups(ec2, made["instance_id"]) == {eni: [group["GroupId"]] for eni in old}
    volumes = sorted(m["Ebs"]["VolumeId"] for m in describe(ec2, made["instance_id"])
                     ["BlockDeviceMappings"])
    assert len(volumes) == 3 and socbot_snapshots(ec2, made["instance_id"]) == volumes
    tags = {t["Key"] for t in describe(ec2, made["instance_id"])["Tags"]}
    assert "socbot:quarantine" in tags
    assert result.undo["interfaces"] == old
    assert result.undo["isolation_group"] == group["GroupId"] and result.undo["created_group"]
    assert len(result.undo["snapshots"]) == 3
    assert describe(ec2, made["instance_id"])["State"]["Name"] == "running"
    # Facts for the thread.
    assert result.details["name"] == "web-1" and result.details["type"] == "t3.micro"
    assert "web-1" in result.summary and "Connections already open may persist" in result.summary


def test_second_run_changes_nothing(ec2: Any) -> None:
    made = instance(ec2)
    pb = playbook("quarantine-instance", {"stop": True})
    target = pb.target(context(instance_id=made["instance_id"]))
    assert pb.run(session(), target).changed
    snaps = socbot_snapshots(ec2, made["instance_id"])
    with recorded_calls(s := session()) as calls:
        second = pb.run(s, target)
    assert not second.changed and "already quarantined" in second.summary
    assert mutating(calls) == [] and socbot_snapshots(ec2, made["instance_id"]) == snaps


def test_an_existing_isolation_group_is_reused_and_emptied(ec2: Any) -> None:
    made = instance(ec2)
    existing = ec2.create_security_group(GroupName="socbot-isolation", Description="x",
                                         VpcId=made["vpc_id"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=existing, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    pb = playbook("quarantine-instance")
    result = pb.run(session(), pb.target(context(instance_id=made["instance_id"])))
    group = isolation_group(ec2, made["vpc_id"])
    assert group["GroupId"] == existing and not result.undo["created_group"]
    assert group["IpPermissions"] == [] and group["IpPermissionsEgress"] == []


def test_stop_option_stops_after_the_snapshots(ec2: Any) -> None:
    made = instance(ec2)
    pb = playbook("quarantine-instance", {"stop": True})
    with recorded_calls(s := session()) as calls:
        result = pb.run(s, pb.target(context(instance_id=made["instance_id"])))
    assert result.undo["stopped"]
    assert describe(ec2, made["instance_id"])["State"]["Name"] in ("stopping", "stopped")
    assert calls.index("StopInstances") > max(i for i, c in enumerate(calls)
                                              if c == "CreateSnapshot")


def test_nacl_deny_option_denies_the_alert_address_in_the_subnet_acl(ec2: Any) -> None:
    made = instance(ec2)
    pb = playbook("quarantine-instance", {"nacl_deny": True})
    result = pb.run(session(), pb.target(context(instance_id=made["instance_id"],
                                                 source__ip="203.0.113.7")))
    denied = [e for entries in acl_entries(ec2, made["vpc_id"]).values() for e in entries
              if e[2] == "deny" and e[3] == "203.0.113.7/32"]
    assert sorted((e[0], e[1]) for e in denied) == [(1, False), (1, True)]
    assert len(result.undo["nacl_entries"]) == 2
    assert "Connections already open may persist" not in result.summary


def test_nacl_deny_without_an_address_in_the_alert_is_refused(ec2: Any) -> None:
    made = instance(ec2)
    pb = playbook("quarantine-instance", {"nacl_deny": True})
    with pytest.raises(PlaybookInputError, match="source.ip"):
        pb.run(session(), pb.target(context(instance_id=made["instance_id"])))


def test_undo_restores_the_old_groups_and_removes_the_acl_rules(ec2: Any) -> None:
    made = instance(ec2, interfaces=2)
    old = interface_groups(ec2, made["instance_id"])
    before_acls = acl_entries(ec2, made["vpc_id"])
    pb = playbook("quarantine-instance", {"nacl_deny": True})
    target = pb.target(context(instance_id=made["instance_id"], source__ip="203.0.113.7"))
    result = pb.run(session(), target)
    undone = pb.undo(session(), target, result.undo)
    assert undone.changed
    assert interface_groups(ec2, made["instance_id"]) == old
    assert acl_entries(ec2, made["vpc_id"]) == before_acls
    assert "socbot:quarantine" not in {t["Key"] for t in describe(ec2, made["instance_id"])["Tags"]}


def test_dry_run_makes_no_mutating_call(ec2: Any) -> None:
    made = instance(ec2, interfaces=2, volumes=1)
    old = interface_groups(ec2, made["instance_id"])
    pb = playbook("quarantine-instance", {"stop": True, "nacl_deny": True})
    target = pb.target(context(instance_id=made["instance_id"], source__ip="203.0.113.7"))
    acls = acl_entries(ec2, made["vpc_id"])
    with recorded_calls(s := session()) as calls:
        result = pb.run(s, target, dry_run=True)
    assert result.dry_run and not result.changed and mutating(calls) == []
    assert "snapshot" in result.summary and "stop the instance" in result.summary
    assert interface_groups(ec2, made["instance_id"]) == old
    assert acl_entries(ec2, made["vpc_id"]) == acls
    assert socbot_snapshots(ec2, made["instance_id"]) == []


def test_a_terminated_instance_is_refused(ec2: Any) -> None:
    made = instance(ec2)
    ec2.terminate_instances(InstanceIds=[made["instance_id"]])
    pb = playbook("quarantine-instance")
    with pytest.raises(PlaybookFailed, match="terminated"):
        pb.run(session(), pb.target(context(instance_id=made["instance_id"])))


def test_an_unknown_instance_fails_clearly(aws: MotoServer) -> None:
    pb = playbook("quarantine-instance")
    with pytest.raises(PlaybookFailed, match="InvalidInstanceID.NotFound"):
        pb.run(session(), pb.target(context(instance_id="i-0123456789abcdef0")))
