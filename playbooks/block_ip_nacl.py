"""``block-ip-nacl``: deny an address in the network ACLs of a VPC's subnets."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import boto3

from socbot.playbooks.base import (
    Plan,
    Playbook,
    PlaybookFailed,
    PlaybookInputError,
    Result,
    Target,
    aws_call,
)
from socbot.playbooks.ec2util import (
    Network,
    add_entries,
    deny_entries,
    describe_entry,
    nacls_for,
    remove_entries,
)
from socbot.playbooks.registry import register

# Narrowest blocks allowed when widening the alert's address with ``prefix``.
MIN_PREFIX = {4: 16, 6: 48}


def blocked_network(ip: str, prefix: int | None) -> Network:
    """The alert's address as a network (a /32 or /128 unless ``prefix`` widens it)."""
    address = ipaddress.ip_address(ip)
    length = address.max_prefixlen if prefix is None else prefix
    if not MIN_PREFIX[address.version] <= length <= address.max_prefixlen:
        raise PlaybookInputError(
            f"block-ip-nacl: prefix must be {MIN_PREFIX[address.version]} to "
            f"{address.max_prefixlen} for an IPv{address.version} address; got {length}")
    return ipaddress.ip_network(f"{address}/{length}", strict=False)


def refuse_own_networks(network: Network, vpc: Mapping[str, Any],
                        office_cidrs: list[str]) -> None:
    """Refuse a block that would cut the VPC's own traffic or the office's."""
    own = [a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", [])]
    own += [a["Ipv6CidrBlock"] for a in vpc.get("Ipv6CidrBlockAssociationSet", [])]
    for label, cidrs in (("the VPC's own range", own), ("office_cidrs", office_cidrs)):
        for cidr in cidrs:
            other = ipaddress.ip_network(cidr, strict=False)
            if other.version == network.version and other.overlaps(network):
                raise PlaybookFailed(f"refusing to block {network}: it overlaps {cidr} "
                                     f"({label})")


@register
class BlockIpNacl(Playbook):
    """Deny an IP address (or its enclosing CIDR) in every network ACL of a VPC's subnets.

    Adds an inbound and an outbound deny rule for all traffic, numbered from the managed range
    ``playbooks.nacl_rule_range`` (lowest free number), so they are evaluated before your own
    allow rules; an ACL that already denies the address needs nothing. Unlike a security group
    change, a network ACL deny also cuts connections already established. Refuses an address
    inside the VPC's own range or ``office_cidrs``. Undo deletes exactly the rules it added.
    """

    name = "block-ip-nacl"
    description = "Deny the alert's source address in the network ACLs of the VPC's subnets"
    required_fields = ("vpc_id", "source.ip", "cloud.region", "cloud.account.id")
    schema = {
        "type": "object", "additionalProperties": False,
        "properties": {"prefix": {"type": "integer"}},
    }
    permissions = ("ec2:DescribeVpcs", "ec2:DescribeNetworkAcls", "ec2:CreateNetworkAclEntry",
                   "ec2:DeleteNetworkAclEntry")
    approvals_required = 1
    undoable = True

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """The deny rules each ACL still needs for the address."""
        network = blocked_network(target["source.ip"], self.params.get("prefix"))
        ec2 = session.client("ec2")
        vpc_id = target["vpc_id"]
        vpcs = aws_call(ec2.describe_vpcs, VpcIds=[vpc_id])["Vpcs"]
        if len(vpcs) != 1:
            raise PlaybookFailed(f"{vpc_id}: DescribeVpcs did not return the VPC")
        target.check_owner(vpc_id, vpcs[0].get("OwnerId"))
        refuse_own_networks(network, vpcs[0], list(self.settings.office_cidrs))
        acls = nacls_for(ec2, vpc_id=vpc_id)
        if not acls:
            return Plan([], f"{vpc_id}: no subnets, so no network ACL to change", [], [])
        before = [{"NetworkAclId": a["NetworkAclId"], "Entries": a.get("Entries", [])}
                  for a in acls]
        changes, warnings = deny_entries(acls, network, self.settings.playbooks.nacl_rule_range)
        if not changes:
            return Plan([], f"{vpc_id}: {network} is already denied in all {len(acls)} "
                            "network ACL(s)", before, before)
        summary = (f"{vpc_id}: deny {network} in {len(acls)} network ACL(s): "
                   + ", ".join(map(describe_entry, changes)))
        if warnings:
            summary += ". Warning: " + "; ".join(warnings)
        return Plan(changes, summary, before, {"added": changes})

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Add the planned rules; on a failure, report (and keep undo data for) those added."""
        added: list[dict[str, Any]] = []
        try:
            add_entries(session.client("ec2"), plan.changes, added)
        except PlaybookFailed as exc:
            exc.partial = Result(changed=bool(added), summary=f"added {len(added)} rule(s)",
                                 before=plan.before, after={"added": added},
                                 undo={"entries": added})
            raise
        return Result(changed=True, summary=plan.summary.replace(": deny ", ": denied ", 1),
                      before=plan.before, after={"added": added}, undo={"entries": added})

    def undo(self, session: boto3.Session, target: Target, undo: Mapping[str, Any]) -> Result:
        """Delete the rules the run added (each only if it is still the same rule)."""
        removed, skipped = remove_entries(session.client("ec2"), list(undo.get("entries", [])))
        summary = f"removed {len(removed)} rule(s): {', '.join(removed) or 'none'}"
        if skipped:
            summary += f"; left {len(skipped)} rule(s) changed since: {', '.join(skipped)}"
        return Result(changed=bool(removed), summary=summary, before=undo, after=removed)
