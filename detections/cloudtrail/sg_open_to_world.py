"""A security group rule that admits the whole Internet (any /0: 0.0.0.0/0, ::/0, 10.0.0.1/0).

"Open to the world" is :func:`core.netaddr.is_world`, the definition the
``revoke-world-ingress`` playbook uses too, so the rule it names is the rule the playbook revokes.
"""

from __future__ import annotations

from typing import Any

from socbot.core.events import Event
from socbot.core.netaddr import is_world
from socbot.detections.rule import Case, Match, rule

ADMIN_PORTS = (22, 3389)


def _items(value: Any) -> list[dict[str, Any]]:
    """CloudTrail wraps lists as {"items": [...]}; tolerate a missing or odd value."""
    if isinstance(value, dict):
        value = value.get("items", [])
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def world_permissions(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The permissions in an AuthorizeSecurityGroupIngress request that are open to the world.

    Handles both request shapes CloudTrail records: ``ipPermissions.items`` and the older
    top-level ``cidrIp`` / ``ipProtocol`` / ``fromPort`` / ``toPort``.
    """
    found = []
    permissions = _items(params.get("ipPermissions"))
    if params.get("cidrIp") or params.get("cidrIpv6"):
        permissions.append({
            "ipProtocol": params.get("ipProtocol", "-1"), "fromPort": params.get("fromPort"),
            "toPort": params.get("toPort"),
            "ipRanges": {"items": [{"cidrIp": params["cidrIp"]}] if params.get("cidrIp") else []},
            "ipv6Ranges": {"items": [{"cidrIpv6": params["cidrIpv6"]}]
                           if params.get("cidrIpv6") else []},
        })
    for permission in permissions:
        ranges = [r.get("cidrIp") for r in _items(permission.get("ipRanges"))]
        ranges += [r.get("cidrIpv6") for r in _items(permission.get("ipv6Ranges"))]
        open_ranges = [cidr for cidr in ranges if is_world(cidr)]
        if open_ranges:
            found.append({
                "protocol": str(permission.get("ipProtocol", "-1")),
                "from_port": permission.get("fromPort"), "to_port": permission.get("toPort"),
                "cidrs": open_ranges,
            })
    return found


def _exposes_admin(permission: dict[str, Any]) -> bool:
    if permission["protocol"] in ("-1", "all"):
        return True
    low, high = permission["from_port"], permission["to_port"]
    if not isinstance(low, int) or not isinstance(high, int):
        return False
    return any(low <= port <= high for port in ADMIN_PORTS)


def _ports(permission: dict[str, Any]) -> str:
    if permission["protocol"] in ("-1", "all"):
        return "all traffic"
    low, high = permission["from_port"], permission["to_port"]
    span = str(low) if low == high else f"{low}-{high}"
    return f"{permission['protocol']}/{span}"


def _request(n: int, params: dict[str, Any], error: str | None = None) -> Event:
    # Built by hand (not through the normalizer) on purpose: the rule reads only these fields.
    record: dict[str, Any] = {"eventName": "AuthorizeSecurityGroupIngress",
                              "requestParameters": params}
    event: Event = {
        "@timestamp": f"2026-11-23T03:00:{n:02d}Z", "event.id": f"sg-open-{n}",
        "event.dataset": "cloudtrail", "event.action": "AuthorizeSecurityGroupIngress",
        "event.outcome": "failure" if error else "success", "cloud.account.id": "111122223333",
        "cloud.region": "us-east-1", "original": record,
    }
    return event


_SSH_TO_WORLD = {"groupId": "sg-0123456789abcdef0", "ipPermissions": {"items": [{
    "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}
_HTTPS_FROM_OFFICE = {"groupId": "sg-0123456789abcdef0", "ipPermissions": {"items": [{
    "ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
    "ipRanges": {"items": [{"cidrIp": "192.0.2.0/24"}]}}]}}


@rule(
    id="cloudtrail.sg_open_to_world",
    title="Security group {group_id} opened to the world",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("AuthorizeSecurityGroupIngress",),
    mitre=("T1562.007",),
    runbook="Confirm with the group's owner; if unintended, revoke the rule with the button.",
    dedup_window_s=3600,
    playbooks=("revoke-world-ingress",),
    tests=(
        Case("SSH from 0.0.0.0/0", fires=True, events=(_request(0, _SSH_TO_WORLD),)),
        Case("SSH from a /0 written with another address (old request shape)", fires=True,
             events=(_request(3, {"groupId": "sg-1", "cidrIp": "208.236.235.254/0",
                                  "ipProtocol": "tcp", "fromPort": 22, "toPort": 22}),)),
        Case("HTTPS from an office range", fires=False, events=(_request(1, _HTTPS_FROM_OFFICE),)),
        Case("a refused request changes nothing", fires=False,
             events=(_request(2, _SSH_TO_WORLD, error="UnauthorizedOperation"),)),
    ),
)
def sg_open_to_world(event: Event) -> Match | None:
    """An AuthorizeSecurityGroupIngress that succeeded with a /0 (IPv4 or IPv6) as a source.

    High when it exposes SSH (22), RDP (3389) or all traffic; medium otherwise.
    """
    if event.get("event.outcome") != "success":
        return None
    record = event.get("original") or {}
    params = record.get("requestParameters") or {}
    group_id = params.get("groupId")
    opened = world_permissions(params)
    if not opened or not isinstance(group_id, str):
        return None
    admin = any(_exposes_admin(permission) for permission in opened)
    account = event.get("cloud.account.id", "")
    region = event.get("cloud.region", "")
    return Match(
        dedup=f"{account}:{region}:{group_id}",
        entity={"type": "security_group", "value": group_id},
        severity="high" if admin else None,
        title=f"Security group {group_id} opened to the world",
        context={"group_id": group_id, "actor": event.get("user.name"),
                 "ports": ", ".join(_ports(permission) for permission in opened)},
    )
