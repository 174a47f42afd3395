"""revoke-world-ingress against moto's server: real HTTP, real botocore serialization."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto_server import ACCOUNT, REGION, MotoServer

from socbot.detections.cloudtrail.sg_open_to_world import sg_open_to_world
from socbot.playbooks.base import PlaybookFailed, PlaybookInputError, Target
from socbot.playbooks.registry import get
from socbot.playbooks.session import SessionFactory

Permission = dict[str, Any]


@pytest.fixture
def ec2(aws: MotoServer) -> Any:
    """An EC2 client on moto, for setting up and inspecting groups."""
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def session(aws: MotoServer) -> boto3.Session:
    """What the runner would hand the playbook: local credentials, in the alert's region."""
    return SessionFactory(None, None).session(ACCOUNT, REGION)


@pytest.fixture
def playbook() -> Any:
    """The registered playbook."""
    return get("revoke-world-ingress")()


def make_group(ec2: Any, name: str, permissions: list[Permission]) -> str:
    """A security group in a new VPC with the given ingress permissions; return its id."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group: str = ec2.create_security_group(GroupName=name, Description=name,
                                           VpcId=vpc)["GroupId"]
    if permissions:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)
    return group


def ingress(ec2: Any, group: str) -> list[Permission]:
    """The group's ingress permissions as AWS reports them."""
    groups = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    return list(groups[0]["IpPermissions"])


def cidrs(permissions: list[Permission]) -> set[tuple[str, Any, Any, str]]:
    """Every (protocol, from, to, cidr) the permissions admit, IPv4 and IPv6."""
    found = set()
    for perm in permissions:
        rule = (perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"))
        found |= {(*rule, r["CidrIp"]) for r in perm.get("IpRanges", [])}
        found |= {(*rule, r["CidrIpv6"]) for r in perm.get("Ipv6Ranges", [])}
    return found


def context(group: str) -> dict[str, str]:
    """The alert fields the playbook reads."""
    return {"group_id": group, "cloud.region": REGION, "cloud.account.id": ACCOUNT}


def tcp(port: int, *v4: str, v6: tuple[str, ...] = (), to: int | None = None) -> Permission:
    """A tcp permission on ``port`` (to ``to``) from the given ranges."""
    perm: Permission = {"IpProtocol": "tcp", "FromPort": port, "ToPort": to or port}
    if v4:
        perm["IpRanges"] = [{"CidrIp": c} for c in v4]
    if v6:
        perm["Ipv6Ranges"] = [{"CidrIpv6": c} for c in v6]
    return perm


def test_ipv4_world_range_is_revoked_and_every_other_rule_stays(
        ec2: Any, session: boto3.Session, playbook: Any) -> None:
    peer = make_group(ec2, "peer", [])
    group = make_group(ec2, "web", [
        tcp(22, "0.0.0.0/0", "10.0.0.0/8"),
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "UserIdGroupPairs": [{"GroupId": peer}]},
    ])
    result = playbook.run(session, playbook.target(context(group)))
    after = ingress(ec2, group)
    assert result.changed
    assert cidrs(after) == {("tcp", 22, 22, "10.0.0.0/8")}
    assert [pair["GroupId"] for perm in after for pair in perm["UserIdGroupPairs"]] == [peer]


def test_ipv6_world_range_is_revoked_and_other_ipv6_ranges_stay(
        ec2: Any, session: boto3.Session, playbook: Any) -> None:
    group = make_group(ec2, "web", [tcp(443, v6=("::/0", "2001:db8::/32"))])
    playbook.run(session, playbook.target(context(group)))
    assert cidrs(ingress(ec2, group)) == {("tcp", 443, 443, "2001:db8::/32")}


def test_all_protocols_rule_open_to_the_world_is_revoked(
        ec2: Any, session: boto3.Session, playbook: Any) -> None:
    group = make_group(ec2, "web", [
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        tcp(80, "192.0.2.0/24"),
    ])
    result = playbook.run(session, playbook.target(context(group)))
    assert cidrs(ingress(ec2, group)) == {("tcp", 80, 80, "192.0.2.0/24")}
    assert "all traffic from 0.0.0.0/0 and ::/0" in result.summary


def test_port_ranges_are_revoked_exactly_and_undo_records_them(
        ec2: Any, session: boto3.Session, playbook: Any) -> None:
    world_range = {"IpProtocol": "tcp", "FromPort": 1000, "ToPort": 2000,
                   "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "legacy app"}]}
    world_udp = {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
                 "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    group = make_group(ec2, "web", [world_range, world_udp, tcp(3000, "10.0.0.0/8", to=4000)])
    result = playbook.run(session, playbook.target(context(group)))
    assert cidrs(ingress(ec2, group)) == {("tcp", 3000, 4000, "10.0.0.0/8")}
    assert result.undo == {"operation": "ec2:AuthorizeSecurityGroupIngress", "GroupId": group,
                           "IpPermissions": [world_range, world_udp]}


def test_undo_data_restores_the_group_when_authorized_again(
        ec2: Any, session: boto3.Session, playbook: Any) -> None:
    group = make_group(ec2, "web", [tcp(22, "0.0.0.0/0", "10.0.0.0/8", v6=("::/0",))])
    original = cidrs(ingress(ec2, group))
    undo = playbook.run(session, playbook.target(context(group))).undo
    ec2.authorize_security_group_ingress(GroupId=undo["GroupId"],
                                         IpPermissions=undo["IpPermissions"])
    assert cidrs(ingress(ec2, group)) == original


def test_preview_lists_exactly_the_rules_it_would_revoke(
        ec2: Any, session: boto3.Session, playbook: Any) -> None:
    group = make_group(ec2, "web", [tcp(22, "0.0.0.0/0", "10.0.0.0/8"), tcp(443, v6=("::/0",)),
                                    tcp(8080, "172.16.0.0/12")])
    plan = playbook.preview(session, playbook.target(context(group)))
    assert cidrs(plan.changes) == {("tcp", 22, 22, "0.0.0.0/0"), ("tcp", 443, 443, "::/0")}
    assert plan.summary == (f"{group}: revoke 2 rule(s) open to the world: "
                            "tcp 22 from 0.0.0.0/0, tcp 443 from ::/0")


def test_second_run_changes_nothing_and_says_so(
        ec2: Any, session: boto3.Session, playbook: Any) -> None:
    group = make_group(ec2, "web", [tcp(22, "0.0.0.0/0")])
    target = playbook.target(context(group))
    assert playbook.run(session, target).changed
    second = playbook.run(session, target)
    assert not second.changed
    assert "nothing open to the world" in second.summary
    assert second.undo == {}


def test_dry_run_leaves_the_group_unchanged(
        ec2: Any, session: boto3.Session, playbook: Any) -> None:
    group = make_group(ec2, "web", [tcp(22, "0.0.0.0/0", "10.0.0.0/8"), tcp(443, v6=("::/0",))])
    before = ingress(ec2, group)
    result = playbook.run(session, playbook.target(context(group)), dry_run=True)
    assert ingress(ec2, group) == before
    assert not result.changed and result.dry_run
    assert result.summary.startswith("dry run: ") and "revoke 2 rule(s)" in result.summary


@pytest.mark.parametrize("field, value", [
    ("group_id", "sg-12345678; curl evil.example"),
    ("group_id", "sg-12345678\n"),
    ("group_id", "sg-1234567"),
    ("group_id", "SG-12345678"),
    ("group_id", ["sg-12345678"]),
    ("cloud.account.id", "١٢٣٤٥٦٧٨٩٠١٢"),  # Arabic-Indic digits: \d without ASCII accepts them
    ("cloud.account.id", "12345678901"),
    ("cloud.region", "eu-west-1 --endpoint-url http://evil"),
])
def test_invalid_alert_field_is_refused_naming_the_field_and_shape(
        playbook: Any, field: str, value: Any) -> None:
    alert = context("sg-0123456789abcdef0") | {field: value}
    with pytest.raises(PlaybookInputError) as refused:
        playbook.target(alert)
    assert repr(field) in str(refused.value) and " such as " in str(refused.value)


def test_missing_alert_field_is_refused(playbook: Any) -> None:
    alert = context("sg-0123456789abcdef0")
    del alert["group_id"]
    with pytest.raises(PlaybookInputError, match="needs alert field 'group_id'"):
        playbook.target(alert)


def test_target_holds_only_the_validated_fields(playbook: Any) -> None:
    alert = context("sg-0123456789abcdef0") | {"message": "ignore me", "user.name": "x"}
    assert playbook.target(alert) == Target(ACCOUNT, REGION, {"group_id": "sg-0123456789abcdef0"})


def test_unknown_group_fails_with_a_clear_message(
        session: boto3.Session, playbook: Any) -> None:
    with pytest.raises(PlaybookFailed) as failed:
        playbook.run(session, playbook.target(context("sg-0123456789abcdef0")))
    assert failed.value.code == "InvalidGroup.NotFound"
    assert "does not exist in this account and region" in str(failed.value)
    assert "sg-0123456789abcdef0" in str(failed.value)


def test_group_in_an_assumed_role_account_is_revoked(aws: MotoServer, playbook: Any) -> None:
    other = "111122223333"
    sessions = SessionFactory("socbot-remediation", "ext-id-1")
    remote_ec2 = sessions.session(other, REGION).client("ec2")
    group = make_group(remote_ec2, "remote", [tcp(22, "0.0.0.0/0")])
    alert = context(group) | {"cloud.account.id": other}
    target = playbook.target(alert)
    result = playbook.run(sessions.session(other, REGION), target)
    assert result.changed and ingress(remote_ec2, group) == []


def test_a_world_range_written_with_host_bits_is_revoked_as_described(
        ec2: Any, session: boto3.Session, playbook: Any) -> None:
    # AWS canonicalizes 10.0.0.1/0 to 0.0.0.0/0 (EC2 API reference, IpRange), so the earlier
    # tests' ranges are what it would describe. moto 5 keeps the text as written and revokes it
    # only under that text: the playbook revokes what DescribeSecurityGroups names, either way.
    written = tcp(22, "10.0.0.1/0", "10.0.0.0/8", v6=("2001:db8::1/0",))
    group = make_group(ec2, "web", [written])
    stored = {cidr for *_rule, cidr in cidrs(ingress(ec2, group))}
    assert stored == {"10.0.0.1/0", "10.0.0.0/8", "2001:db8::1/0"}, (
        "moto now changes the ranges it stores; update core/netaddr.py's note on moto")
    alert = sg_open_to_world(cloudtrail_request(group, written))
    assert alert is not None and alert.entity["value"] == group
    plan = playbook.preview(session, playbook.target(context(group)))
    assert cidrs(plan.changes) == {("tcp", 22, 22, "10.0.0.1/0"), ("tcp", 22, 22, "2001:db8::1/0")}
    playbook.run(session, playbook.target(context(group)))
    assert cidrs(ingress(ec2, group)) == {("tcp", 22, 22, "10.0.0.0/8")}


def cloudtrail_request(group: str, perm: Permission) -> dict[str, Any]:
    """The CloudTrail event of a successful AuthorizeSecurityGroupIngress of ``perm``."""
    item = {"ipProtocol": perm["IpProtocol"], "fromPort": perm.get("FromPort"),
            "toPort": perm.get("ToPort"),
            "ipRanges": {"items": [{"cidrIp": r["CidrIp"]} for r in perm.get("IpRanges", [])]},
            "ipv6Ranges": {"items": [{"cidrIpv6": r["CidrIpv6"]}
                                     for r in perm.get("Ipv6Ranges", [])]}}
    return {"@timestamp": "2026-11-23T03:00:00Z", "event.id": "e-1",
            "event.dataset": "cloudtrail", "event.action": "AuthorizeSecurityGroupIngress",
            "event.outcome": "success", "cloud.account.id": ACCOUNT, "cloud.region": REGION,
            "original": {"eventName": "AuthorizeSecurityGroupIngress",
                         "requestParameters": {"groupId": group,
                                               "ipPermissions": {"items": [item]}}}}
