"""block-ip-nacl against moto's server."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto_server import REGION, MotoServer
from playbook_env import acl_entries, context, mutating, network, playbook, recorded_calls, session

from socbot.playbooks.base import PlaybookFailed, PlaybookInputError


@pytest.fixture
def ec2(aws: MotoServer) -> Any:
    """An EC2 client on moto."""
    return boto3.client("ec2", region_name=REGION)


def vpc_with_two_acls(ec2: Any) -> str:
    """A VPC whose two subnets use different network ACLs."""
    vpc, _subnet = network(ec2)
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    association = ec2.describe_network_acls(Filters=[
        {"Name": "association.subnet-id", "Values": [other]}])["NetworkAcls"][0]
    assoc_id = next(a["NetworkAclAssociationId"] for a in association["Associations"]
                    if a["SubnetId"] == other)
    ec2.replace_network_acl_association(AssociationId=assoc_id, NetworkAclId=acl)
    return vpc


def denies(ec2: Any, vpc: str, cidr: str) -> list[tuple[str, int, bool]]:
    """(acl, number, egress) of the deny rules for ``cidr``."""
    return sorted((acl, e[0], e[1]) for acl, entries in acl_entries(ec2, vpc).items()
                  for e in entries if e[2] == "deny" and e[3] == cidr)


def test_the_address_is_denied_both_ways_in_every_subnet_acl(ec2: Any) -> None:
    vpc = vpc_with_two_acls(ec2)
    pb = playbook("block-ip-nacl")
    result = pb.run(session(), pb.target(context(vpc_id=vpc, source__ip="203.0.113.7")))
    found = denies(ec2, vpc, "203.0.113.7/32")
    assert len({acl for acl, _, _ in found}) == 2
    assert [(n, egress) for _, n, egress in found] == [(1, False), (1, True)] * 2
    assert result.changed and len(result.undo["entries"]) == 4


def test_ipv6_address_and_the_lowest_free_managed_number(ec2: Any) -> None:
    vpc, _subnet = network(ec2)
    acl = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
        "NetworkAcls"][0]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=10, Egress=False, Protocol="6",
                                 RuleAction="allow", CidrBlock="192.0.2.0/24",
                                 PortRange={"From": 443, "To": 443})
    pb = playbook("block-ip-nacl", playbooks={"nacl_rule_range": [10, 20]})
    pb.run(session(), pb.target(context(vpc_id=vpc, source__ip="2001:db8::7")))
    assert [(n, egress) for _, n, egress in denies(ec2, vpc, "2001:db8::7/128")] == [
        (10, True), (11, False)]


def test_prefix_widens_the_block_within_bounds(ec2: Any) -> None:
    vpc, _subnet = network(ec2)
    pb = playbook("block-ip-nacl", {"prefix": 24})
    pb.run(session(), pb.target(context(vpc_id=vpc, source__ip="203.0.113.7")))
    assert len(denies(ec2, vpc, "203.0.113.0/24")) == 2
    with pytest.raises(PlaybookInputError, match="prefix must be 16 to 32"):
        too_wide = playbook("block-ip-nacl", {"prefix": 8})
        too_wide.run(session(), too_wide.target(context(vpc_id=vpc, source__ip="203.0.113.7")))


@pytest.mark.parametrize("ip, office", [("10.0.1.9", []), ("198.51.100.4", ["198.51.100.0/24"])])
def test_own_and_office_addresses_are_refused(ec2: Any, ip: str, office: list[str]) -> None:
    vpc, _subnet = network(ec2)
    pb = playbook("block-ip-nacl", office_cidrs=office)
    with pytest.raises(PlaybookFailed, match="refusing to block"):
        pb.run(session(), pb.target(context(vpc_id=vpc, source__ip=ip)))


def test_second_run_changes_nothing(ec2: Any) -> None:
    vpc = vpc_with_two_acls(ec2)
    pb = playbook("block-ip-nacl")
    target = pb.target(context(vpc_id=vpc, source__ip="203.0.113.7"))
    pb.run(session(), target)
    rules = acl_entries(ec2, vpc)
    with recorded_calls(s := session()) as calls:
        second = pb.run(s, target)
    assert not second.changed and "already denied" in second.summary
    assert mutating(calls) == [] and acl_entries(ec2, vpc) == rules


def test_undo_removes_exactly_the_rules_it_added(ec2: Any) -> None:
    vpc = vpc_with_two_acls(ec2)
    before = acl_entries(ec2, vpc)
    pb = playbook("block-ip-nacl")
    target = pb.target(context(vpc_id=vpc, source__ip="203.0.113.7"))
    result = pb.run(session(), target)
    undone = pb.undo(session(), target, result.undo)
    assert undone.changed and "removed 4 rule(s)" in undone.summary
    assert acl_entries(ec2, vpc) == before


def test_undo_leaves_a_rule_number_someone_reused(ec2: Any) -> None:
    vpc, _subnet = network(ec2)
    pb = playbook("block-ip-nacl")
    target = pb.target(context(vpc_id=vpc, source__ip="203.0.113.7"))
    result = pb.run(session(), target)
    entry = result.undo["entries"][0]
    ec2.replace_network_acl_entry(NetworkAclId=entry["NetworkAclId"], RuleNumber=1,
                                  Egress=entry["Egress"], Protocol="-1", RuleAction="deny",
                                  CidrBlock="198.51.100.0/24")
    undone = pb.undo(session(), target, result.undo)
    assert "left 1 rule(s)" in undone.summary
    assert denies(ec2, vpc, "198.51.100.0/24") != []


def test_dry_run_makes_no_mutating_call(ec2: Any) -> None:
    vpc = vpc_with_two_acls(ec2)
    rules = acl_entries(ec2, vpc)
    pb = playbook("block-ip-nacl")
    with recorded_calls(s := session()) as calls:
        result = pb.run(s, pb.target(context(vpc_id=vpc, source__ip="203.0.113.7")),
                        dry_run=True)
    assert result.dry_run and "deny 203.0.113.7/32 in 2 network ACL(s)" in result.summary
    assert mutating(calls) == [] and acl_entries(ec2, vpc) == rules


def test_a_full_managed_range_fails_clearly(ec2: Any) -> None:
    vpc, _subnet = network(ec2)
    acl = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
        "NetworkAcls"][0]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=5, Egress=False, Protocol="-1",
                                 RuleAction="deny", CidrBlock="192.0.2.1/32")
    pb = playbook("block-ip-nacl", playbooks={"nacl_rule_range": [5, 5]})
    with pytest.raises(PlaybookFailed, match="every rule number .* 5-5 is taken"):
        pb.run(session(), pb.target(context(vpc_id=vpc, source__ip="203.0.113.7")))
