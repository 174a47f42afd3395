"""Instance (IMDS) credentials used from an address where a person's own credentials are used:
the role's keys were taken off the instance and are used from someone's machine."""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import replace

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import ACCOUNT, access_key, aws_context, ct, record
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Join, Match, RawRecord, State, rule

# An instance profile's session is named after the instance: assumed-role/<role>/i-0abc...
INSTANCE_SESSION = re.compile(r":assumed-role/([^/]+)/(i-[0-9a-fA-F]{8,17})$")
PEOPLE = ("IAMUser", "Root", "FederatedUser")
ROLE = "web-instance-role"
INSTANCE = "i-0123456789abcdef0"


# Addresses a call has inside a network (VPC endpoints, NAT-less private paths): no evidence.
INTERNAL = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
    "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128"))


@functools.lru_cache(maxsize=4096)  # the same few addresses make most calls
def _public(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not any(address in net for net in INTERNAL if net.version == address.version)


def _stolen(name: str, second: int, ip: str = "203.0.113.50") -> RawRecord:
    return ct(name, None, source="sts.amazonaws.com" if name == "GetCallerIdentity"
              else "ec2.amazonaws.com", ip=ip, at=f"2026-11-23T03:{second // 60:02d}:"
              f"{second % 60:02d}Z", identity="AssumedRole", userIdentity={
                  "type": "AssumedRole", "accountId": ACCOUNT,
                  "principalId": f"AROAEXAMPLEROLE:{INSTANCE}",
                  "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/{INSTANCE}",
                  "accessKeyId": "ASIAEXAMPLE000000001",
                  "sessionContext": {"sessionIssuer": {"type": "Role", "userName": ROLE}}})


def _person(second: int, ip: str = "203.0.113.50") -> RawRecord:
    return ct("DescribeInstances", None, source="ec2.amazonaws.com", ip=ip, user="mallory",
              at=f"2026-11-23T03:{second // 60:02d}:{second % 60:02d}Z")


def _confirm(match: Match, state: State, ctx: RuleContext) -> Match | None:
    if match.step == "instance":
        stolen, people = match.context, {str(r.get("person")) for r in state.records}
    else:  # a person's call after the instance's keys were used from the same address
        stolen, people = state.records[-1], {str(match.context.get("person"))}
    names = ", ".join(sorted(people - {"None", ""}))
    instance = str(stolen.get("instance_id", "?"))
    return replace(match, entity={"type": "instance", "value": instance},
                   dedup=f"{stolen.get('cloud.account.id', '')}:{instance}",
                   title=f"Credentials of {instance} ({stolen.get('role')}) used from "
                         f"{stolen.get('source.ip')}, where {names} also works",
                   context={**stolen, "people_at_address": names})


@rule(
    id="cloudtrail.instance_credentials_elsewhere",
    title="Instance credentials used outside their instance",
    severity="high",
    datasets=("cloudtrail",),
    actions=None,
    mitre=("T1552.005", "T1078.004"),
    runbook="An instance role's keys are used from an address a person works from: they were "
            "read from the instance metadata service (SSRF, a shell) and taken away. Find how "
            "(ssm-triage), revoke the role's sessions (a deny on aws:TokenIssueTime) and "
            "require IMDSv2.",
    # A person's calls are most of the traffic: one per person and address every six minutes
    # is written and looked up, the rest skipped.
    state=Join(within_s=3600, sides=("person", "instance"), sparse=("person",)),
    confirm=_confirm,
    entity_type="instance",
    dedup_window_s=86400,
    playbooks=("ssm-triage", "quarantine-instance"),
    tests=(
        Case("a person's key, then the instance's from the same address", fires=True,
             events=(_person(0), _stolen("GetCallerIdentity", 30))),
        Case("the instance's credentials from its own address only", fires=False,
             events=(_stolen("DescribeInstances", 0, ip="198.51.100.20"),
                     _stolen("GetCallerIdentity", 30, ip="198.51.100.20"))),
        Case("a person at another address", fires=False,
             events=(_person(0, ip="192.0.2.8"), _stolen("GetCallerIdentity", 30))),
        Case("the instance's keys first, then the person at that address", fires=True,
             events=(_stolen("GetCallerIdentity", 0), _person(30))),
        Case("private addresses (a VPC endpoint) are no evidence", fires=False,
             events=(_person(0, ip="10.0.1.5"), _stolen("GetCallerIdentity", 30,
                                                        ip="10.0.1.5"))),
    ),
)
def instance_credentials_elsewhere(event: Event) -> Match | None:
    """A call with an instance profile's credentials (a role session named ``i-...``) from a
    public address where an IAM user, root or federated user calls within an hour either side:
    the instance's keys are in someone's hands (GuardDuty's InstanceCredentialExfiltration,
    from CloudTrail alone). Calls an AWS service makes for a principal are left out."""
    kind = event.get("aws.cloudtrail.user_identity.type")
    ip = event.get("source.ip")
    if kind not in PEOPLE and kind != "AssumedRole" or not isinstance(ip, str) or not _public(ip):
        return None
    identity = record(event).get("userIdentity")
    if not isinstance(identity, dict) or identity.get("invokedBy"):
        return None
    if kind in PEOPLE:
        name = str(event.get("user.name") or identity.get("arn") or "")
        return Match(step="person", key=str(ip), context={"person": name}) if name else None
    found = INSTANCE_SESSION.search(str(identity.get("arn", ""))) if kind == "AssumedRole" \
        else None
    if found is None:
        return None
    role, instance = found.groups()
    return Match(step="instance", key=str(ip), entity={"type": "instance", "value": instance},
                 dedup=f"{event.get('cloud.account.id', '')}:{instance}",
                 context=aws_context(event, instance_id=instance, role=role,
                                     access_key_id=access_key(event),
                                     **{"source.ip": ip}))
