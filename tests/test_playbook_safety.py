"""Safety properties that hold for every registered playbook.

* resource ids come only from the alert's validated fields;
* a dry run makes no mutating AWS call and leaves moto's state as it was;
* no playbook runs without the approvals its declaration requires for its parameters.

Each playbook has a scenario below (something for it to do); a new playbook without one fails
``test_every_playbook_has_a_scenario``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import redis
from moto_server import ACCOUNT, REGION, MotoServer
from playbook_env import context, instance, mutating, network, playbook, recorded_calls, session

from socbot.core.actions import ActionStore
from socbot.core.alerts import AlertStore, Signal
from socbot.core.config import Settings
from socbot.playbooks.base import Playbook, PlaybookInputError
from socbot.playbooks.registry import all_playbooks
from socbot.playbooks.runner import ActionRunner
from socbot.playbooks.session import SessionFactory
from socbot.playbooks.ssm_triage import DOCUMENT, document_content

PLAYBOOKS = all_playbooks()
APPROVED_AMI = "ami-0aaaaaaaaaaaaaaaa"
SETTINGS: dict[str, Any] = {"approved_amis": [APPROVED_AMI]}

# A valid value for every alert field a playbook may read.
VALID = {
    "cloud.account.id": ACCOUNT, "cloud.region": REGION, "group_id": "sg-0123456789abcdef0",
    "instance_id": "i-0123456789abcdef0", "image_id": "ami-0123456789abcdef0",
    "vpc_id": "vpc-0123456789abcdef0", "access_key_id": "AKIAIOSFODNN7EXAMPLE",
    "iam_user": "alice", "trail_name": "management", "bucket": "evidence",
    "object_key": "reports/q1.csv", "version_id": "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
    "source.ip": "203.0.113.7",
}
HOSTILE = ["{} ; curl evil.example", "{}\n", " {}", "{} {}", ""]
# S3 keys are free-form by nature (spaces, semicolons): only control characters and emptiness
# are refused. They reach S3 as an API parameter, never a shell.
HOSTILE_FREE_FORM = {"object_key": ["{}\n", "", "{}\x00", "\x1b[31m{}"]}


# --- scenarios: each makes moto hold something the playbook would change ------------------

def _world_open_group() -> tuple[dict[str, str], dict[str, Any]]:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc, _ = network(ec2)
    group = ec2.create_security_group(GroupName="w", Description="w", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    return context(group_id=group), {}


def _instance(params: dict[str, Any]) -> Callable[[], tuple[dict[str, str], dict[str, Any]]]:
    def make() -> tuple[dict[str, str], dict[str, Any]]:
        made = instance(boto3.client("ec2", region_name=REGION))
        boto3.client("ssm", region_name=REGION).create_document(
            Name=DOCUMENT, Content=json.dumps(document_content()), DocumentType="Command",
            DocumentFormat="JSON")
        return context(instance_id=made["instance_id"], source__ip="203.0.113.7"), params
    return make


def _user() -> tuple[dict[str, str], dict[str, Any]]:
    iam = boto3.client("iam")
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password="Correct-horse-9!")
    key = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    return context(access_key_id=key, iam_user="alice"), {}


def _stopped_trail() -> tuple[dict[str, str], dict[str, Any]]:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket="trail-logs", CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("cloudtrail", region_name=REGION).create_trail(
        Name="management", S3BucketName="trail-logs")
    return context(trail_name="management"), {}


def _vpc() -> tuple[dict[str, str], dict[str, Any]]:
    vpc, _ = network(boto3.client("ec2", region_name=REGION))
    return context(vpc_id=vpc, source__ip="203.0.113.7"), {}


def _deleted_object() -> tuple[dict[str, str], dict[str, Any]]:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="evidence", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket="evidence", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="evidence", Key="a.txt", Body=b"x")
    s3.delete_object(Bucket="evidence", Key="a.txt")
    return context(bucket="evidence", object_key="a.txt"), {}


SCENARIOS: dict[str, Callable[[], tuple[dict[str, str], dict[str, Any]]]] = {
    "revoke-world-ingress": _world_open_group,
    "quarantine-instance": _instance({"stop": True, "nacl_deny": True}),
    "contain-unapproved-ami": _instance({"mode": "terminate"}),
    "disable-access-key": _user,
    "disable-console-login": _user,
    "restart-cloudtrail-logging": _stopped_trail,
    "block-ip-nacl": _vpc,
    "restore-s3-object": _deleted_object,
    "ssm-triage": _instance({}),
}


def world() -> dict[str, Any]:
    """Everything a playbook could change in moto's account, read back."""
    ec2 = boto3.client("ec2", region_name=REGION)
    iam = boto3.client("iam")
    state: dict[str, Any] = {
        "instances": [(i["InstanceId"], i["State"]["Name"], sorted(
            (t["Key"], t["Value"]) for t in i.get("Tags", [])), sorted(
            (n["NetworkInterfaceId"], tuple(g["GroupId"] for g in n["Groups"]))
            for n in i["NetworkInterfaces"]))
            for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]],
        "groups": sorted(json.dumps(g, sort_keys=True, default=str)
                         for g in ec2.describe_security_groups()["SecurityGroups"]),
        "acls": sorted(json.dumps(a, sort_keys=True, default=str)
                       for a in ec2.describe_network_acls()["NetworkAcls"]),
        "snapshots": sorted(s["SnapshotId"] for s in
                            ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]),
        "users": {},
        "commands": len(boto3.client("ssm", region_name=REGION).list_commands()["Commands"]),
    }
    for user in iam.list_users()["Users"]:
        name = user["UserName"]
        try:
            profile = bool(iam.get_login_profile(UserName=name))
        except iam.exceptions.NoSuchEntityException:
            profile = False
        state["users"][name] = (
            sorted((k["AccessKeyId"], k["Status"])
                   for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]),
            iam.list_user_policies(UserName=name)["PolicyNames"], profile)
    trails = boto3.client("cloudtrail", region_name=REGION)
    state["trails"] = [(t["Name"], trails.get_trail_status(Name=t["Name"])["IsLogging"],
                        trails.get_event_selectors(TrailName=t["Name"])["EventSelectors"])
                       for t in trails.describe_trails()["trailList"]]
    s3 = boto3.client("s3", region_name=REGION)
    state["objects"] = {b["Name"]: json.dumps(s3.list_object_versions(Bucket=b["Name"]).get(
        "DeleteMarkers", []), default=str) for b in s3.list_buckets()["Buckets"]}
    return state


def test_every_playbook_has_a_scenario() -> None:
    assert sorted(SCENARIOS) == sorted(cls.name for cls in PLAYBOOKS)


@pytest.mark.parametrize("cls", PLAYBOOKS, ids=lambda cls: cls.name)
def test_dry_run_makes_no_mutating_call_and_changes_nothing(
        aws: MotoServer, cls: type[Playbook]) -> None:
    alert, params = SCENARIOS[cls.name]()
    pb = playbook(cls.name, params, **SETTINGS)
    target = pb.target(alert)
    assert not pb.preview(session(), target).empty, "the scenario gives the playbook work"
    before = world()
    with recorded_calls(s := session()) as calls:
        result = pb.run(s, target, dry_run=True)
    assert result.dry_run and not result.changed
    assert calls and mutating(calls) == []
    assert world() == before


@pytest.mark.parametrize("cls", PLAYBOOKS, ids=lambda cls: cls.name)
def test_resource_ids_come_only_from_validated_alert_fields(cls: type[Playbook]) -> None:
    pb = cls({}, Settings())
    fields = (*cls.required_fields, *cls.optional_fields)
    alert = {name: VALID[name] for name in fields}
    free_text = {"message": "sg-0fedcba987654321f i-0fedcba987654321f", "user.name": "x",
                 "user_agent.original": "AKIAEVILEVILEVILEVIL"}
    target = pb.target(alert | free_text)
    assert target == pb.target(alert)
    assert set(target.resources) <= set(fields)
    assert set(target.resources.values()) <= set(VALID.values())
    for name in cls.required_fields:
        for pattern in HOSTILE_FREE_FORM.get(name, HOSTILE):
            bad = pattern.format(VALID[name], VALID[name])
            with pytest.raises(PlaybookInputError, match=repr(name).replace(".", r"\.")):
                pb.target(alert | {name: bad})
        with pytest.raises(PlaybookInputError, match="needs alert field"):
            pb.target({k: v for k, v in alert.items() if k != name})
    for name in cls.optional_fields:
        with pytest.raises(PlaybookInputError, match=repr(name).replace(".", r"\.")):
            pb.target(alert | {name: VALID[name] + "\n"})


def _requests(cls: type[Playbook]) -> list[tuple[dict[str, Any], int]]:
    """Parameter sets to try, with the approvals each needs."""
    found = [({}, cls.approvals_for({}))]
    for param, values in cls.destructive_params.items():
        found += [({param: value}, cls.approvals_for({param: value})) for value in values]
    return found


@pytest.mark.parametrize("cls", PLAYBOOKS, ids=lambda cls: cls.name)
def test_no_playbook_runs_with_fewer_approvals_than_declared(
        cls: type[Playbook], redis_client: redis.Redis, aws: MotoServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(cls, "run", lambda self, *a, **k: ran.append(cls.name))
    runner = ActionRunner(redis_client, ActionStore(redis_client), AlertStore(redis_client),
                          SessionFactory(None, None), settings=Settings(**SETTINGS))
    for params, needed in _requests(cls):
        signal = Signal(rule_id="r", title="t", severity="high", dedup_key=str(params),
                        entity={"type": "x", "value": "y"}, event_ids=[str(params)],
                        timestamp=time.time(), dataset="cloudtrail",
                        context={k: VALID[k] for k in cls.required_fields})
        alert_id, _ = runner.alerts.record(signal)
        # The request was opened with one approval too few (a bug, or an edit in Redis) and
        # approved by that many people; the requester's own click never counts.
        action = runner.actions.create(alert_id, cls.name, "U0", params=params,
                                       approvals_required=max(needed - 1, 1))
        for user in ("U0", *[f"U{n}" for n in range(1, needed)]):
            current = runner.actions.get(action.id)
            assert current is not None
            runner.actions.decide(action.id, user, current.token, "approve")
        runner.handle("1-0", {"action_id": action.id})
        final = runner.actions.get(action.id)
        assert final is not None
        if needed == 1:  # only the requester clicked: never approved, never run
            assert final.status == "requested"
        else:
            assert final.status == "failed" and f"needs {needed} approval(s)" in final.error
    assert ran == []
