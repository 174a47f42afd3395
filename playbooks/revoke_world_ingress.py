"""``revoke-world-ingress``: close a security group's ingress rules that are open to everyone."""

from __future__ import annotations

from typing import Any

import boto3

from socbot.core.netaddr import is_world
from socbot.playbooks.base import Plan, Playbook, PlaybookFailed, Result, Target, aws_call
from socbot.playbooks.registry import register

# The parts of an IpPermission that identify the rule, besides its ranges.
_RULE_KEYS = ("IpProtocol", "FromPort", "ToPort")

Permission = dict[str, Any]


@register
class RevokeWorldIngress(Playbook):
    """Revoke the ingress rules of a security group that admit the whole internet.

    Only the ranges open to the world are revoked (:func:`core.netaddr.is_world`: any ``/0``,
    the definition the ``cloudtrail.sg_open_to_world`` rule uses), for any protocol (``-1``
    included) and any port range, each under the exact text DescribeSecurityGroups reports (AWS
    reports ``10.0.0.1/0`` as ``0.0.0.0/0``; moto keeps the text as written). Every other rule
    stays, and so does every other range of the same permission: a permission open to
    ``0.0.0.0/0`` and ``10.0.0.0/8`` keeps ``10.0.0.0/8``. Undo data holds the revoked
    permissions exactly (descriptions included), ready for ``AuthorizeSecurityGroupIngress``.
    Connections already established stay open: the group tracks them until they close, so
    cutting them needs a network ACL deny.
    """

    name = "revoke-world-ingress"
    description = "Revoke the security group's ingress rules open to 0.0.0.0/0 or ::/0"
    required_fields = ("group_id", "cloud.region", "cloud.account.id")
    permissions = ("ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupIngress")
    approvals_required = 1
    destructive = False

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """List exactly the world-open ranges the run would revoke, per permission."""
        group_id = target["group_id"]
        before = self._ingress(session.client("ec2"), target)
        world = [perm for perm in map(world_part, before) if perm is not None]
        if not world:
            return Plan([], f"{group_id}: nothing open to the world", before, before)
        after = [perm for perm in map(without_world, before) if perm is not None]
        return Plan(world, f"{group_id}: revoke {describe_rules(world)}", before, after)

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Revoke the planned ranges, then read the group again to report what is left."""
        group_id = target["group_id"]
        ec2 = session.client("ec2")
        aws_call(ec2.revoke_security_group_ingress, GroupId=group_id,
                 IpPermissions=[revoke_request(perm) for perm in plan.changes])
        after = self._ingress(ec2, target)
        still_open = [perm for perm in map(world_part, after) if perm is not None]
        if still_open:
            # AWS answered success but a rule survived: say so rather than claim success.
            raise PlaybookFailed(f"{group_id}: still open after the revoke: "
                                 f"{describe_rules(still_open)}")
        return Result(
            changed=True,
            summary=f"{group_id}: revoked {describe_rules(plan.changes)}. Connections already "
                    "open stay open until they close.",
            before=plan.before, after=after,
            undo={"operation": "ec2:AuthorizeSecurityGroupIngress", "GroupId": group_id,
                  "IpPermissions": plan.changes},
        )

    @staticmethod
    def _ingress(ec2: Any, target: Target) -> list[Permission]:
        group_id = target["group_id"]
        groups = aws_call(ec2.describe_security_groups, GroupIds=[group_id])["SecurityGroups"]
        if len(groups) != 1 or groups[0].get("GroupId") != group_id:
            raise PlaybookFailed(f"{group_id}: DescribeSecurityGroups did not return the group")
        target.check_owner(group_id, groups[0].get("OwnerId"))
        return list(groups[0].get("IpPermissions", []))


def _rule(perm: Permission) -> Permission:
    return {key: perm[key] for key in _RULE_KEYS if key in perm}


def world_part(perm: Permission) -> Permission | None:
    """The world-open ranges of one permission (with its protocol and ports), or None."""
    v4 = [r for r in perm.get("IpRanges", []) if is_world(r.get("CidrIp"))]
    v6 = [r for r in perm.get("Ipv6Ranges", []) if is_world(r.get("CidrIpv6"))]
    if not v4 and not v6:
        return None
    part = _rule(perm)
    if v4:
        part["IpRanges"] = v4
    if v6:
        part["Ipv6Ranges"] = v6
    return part


def without_world(perm: Permission) -> Permission | None:
    """The permission as it will be after the revoke, or None if nothing of it remains."""
    kept = dict(perm)
    kept["IpRanges"] = [r for r in perm.get("IpRanges", []) if not is_world(r.get("CidrIp"))]
    kept["Ipv6Ranges"] = [r for r in perm.get("Ipv6Ranges", [])
                          if not is_world(r.get("CidrIpv6"))]
    sources = ("IpRanges", "Ipv6Ranges", "UserIdGroupPairs", "PrefixListIds")
    return kept if any(kept.get(key) for key in sources) else None


def revoke_request(perm: Permission) -> Permission:
    """The permission as RevokeSecurityGroupIngress takes it: ranges without descriptions."""
    request = _rule(perm)
    if perm.get("IpRanges"):
        request["IpRanges"] = [{"CidrIp": r["CidrIp"]} for r in perm["IpRanges"]]
    if perm.get("Ipv6Ranges"):
        request["Ipv6Ranges"] = [{"CidrIpv6": r["CidrIpv6"]} for r in perm["Ipv6Ranges"]]
    return request


def describe_rules(perms: list[Permission]) -> str:
    """``2 rule(s) open to the world: tcp 22 from 0.0.0.0/0, all traffic from ::/0``."""
    return f"{len(perms)} rule(s) open to the world: " + ", ".join(map(describe_rule, perms))


def describe_rule(perm: Permission) -> str:
    """A short human form of a world-open permission: ``tcp 22 from 0.0.0.0/0``."""
    protocol = str(perm.get("IpProtocol", "?"))
    low, high = perm.get("FromPort"), perm.get("ToPort")
    if protocol == "-1":
        what = "all traffic"
    elif low is None or (low == -1 and high == -1):
        what = protocol
    elif low == high:
        what = f"{protocol} {low}"
    else:
        what = f"{protocol} {low}-{high}"
    cidrs = [r["CidrIp"] for r in perm.get("IpRanges", [])]
    cidrs += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])]
    return f"{what} from {' and '.join(cidrs)}"
