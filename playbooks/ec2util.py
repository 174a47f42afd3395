"""EC2 reads and network ACL rules shared by several playbooks (not a playbook itself)."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable
from typing import Any

from socbot.playbooks.base import PlaybookFailed, Target, aws_call

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Tag keys socbot writes: on quarantined instances, and on the snapshots it takes.
QUARANTINE_TAG = "socbot:quarantine"
SNAPSHOT_OF_TAG = "socbot:snapshot-of"
ACTION_TAG = "socbot:playbook"


def describe_instance(ec2: Any, target: Target) -> dict[str, Any]:
    """The alert's instance, checked to belong to the alert's account."""
    instance_id = target["instance_id"]
    reservations = aws_call(ec2.describe_instances, InstanceIds=[instance_id])["Reservations"]
    found = [(r.get("OwnerId"), i) for r in reservations for i in r.get("Instances", [])
             if i.get("InstanceId") == instance_id]
    if len(found) != 1:
        raise PlaybookFailed(f"{instance_id}: DescribeInstances did not return the instance")
    owner, instance = found[0]
    target.check_owner(instance_id, owner)
    return dict(instance)


def instance_facts(instance: dict[str, Any]) -> dict[str, Any]:
    """What responders want to know about an instance, for the alert's thread."""
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    launch: Any = instance.get("LaunchTime")
    return {
        "instance_id": instance.get("InstanceId"),
        "name": tags.get("Name", ""),
        "state": instance.get("State", {}).get("Name", ""),
        "type": instance.get("InstanceType", ""),
        "image_id": instance.get("ImageId", ""),
        "launch_time": launch.isoformat() if hasattr(launch, "isoformat") else str(launch or ""),
        "vpc_id": instance.get("VpcId", ""),
        "subnet_id": instance.get("SubnetId", ""),
        "private_ips": sorted(_private_ips(instance)),
        "public_ip": instance.get("PublicIpAddress", ""),
        "key_name": instance.get("KeyName", ""),
        "instance_profile": instance.get("IamInstanceProfile", {}).get("Arn", ""),
    }


def _private_ips(instance: dict[str, Any]) -> set[str]:
    found = {a["PrivateIpAddress"] for eni in instance.get("NetworkInterfaces", [])
             for a in eni.get("PrivateIpAddresses", []) if a.get("PrivateIpAddress")}
    if not found and instance.get("PrivateIpAddress"):
        found.add(instance["PrivateIpAddress"])
    return found


def facts_line(facts: dict[str, Any]) -> str:
    """``i-0abc (web-1) running t3.micro ami-... launched ...; 10.0.0.5, 203.0.113.9; ...``."""
    name = f" ({facts['name']})" if facts.get("name") else ""
    ips = ", ".join([*facts.get("private_ips", []), *filter(None, [facts.get("public_ip")])])
    parts = [f"{facts['instance_id']}{name} {facts['state']} {facts['type']} "
             f"{facts['image_id']} launched {facts['launch_time']}",
             f"IPs {ips or 'none'}", f"{facts['vpc_id']}/{facts['subnet_id']}"]
    if facts.get("key_name"):
        parts.append(f"key pair {facts['key_name']}")
    if facts.get("instance_profile"):
        parts.append(f"profile {facts['instance_profile']}")
    return "; ".join(parts)


def attached_volumes(instance: dict[str, Any]) -> list[tuple[str, str]]:
    """``(device, volume id)`` of every EBS volume attached to the instance."""
    return [(m.get("DeviceName", ""), m["Ebs"]["VolumeId"])
            for m in instance.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("VolumeId")]


def interface_groups(instance: dict[str, Any]) -> dict[str, list[str]]:
    """Each network interface of the instance and the ids of its security groups."""
    return {eni["NetworkInterfaceId"]: [g["GroupId"] for g in eni.get("Groups", [])]
            for eni in instance.get("NetworkInterfaces", [])}


def snapshot_changes(ec2: Any, instance: dict[str, Any]) -> list[dict[str, Any]]:
    """``{"op": "snapshot", ...}`` for each attached volume without a socbot snapshot yet
    (so a second run takes none twice)."""
    snapshots = aws_call(ec2.describe_snapshots, OwnerIds=["self"], Filters=[
        {"Name": f"tag:{SNAPSHOT_OF_TAG}", "Values": [instance["InstanceId"]]}])["Snapshots"]
    done = {s["VolumeId"] for s in snapshots}
    return [{"op": "snapshot", "volume": volume, "device": device}
            for device, volume in attached_volumes(instance) if volume not in done]


def snapshot(ec2: Any, instance_id: str, volume_id: str, device: str, playbook: str) -> str:
    """Snapshot one volume, tagged with the instance and the playbook; return its id."""
    tags = [{"Key": SNAPSHOT_OF_TAG, "Value": instance_id}, {"Key": ACTION_TAG, "Value": playbook},
            {"Key": "Name", "Value": f"socbot {playbook} {instance_id} {device}"[:255]}]
    created = aws_call(ec2.create_snapshot, VolumeId=volume_id,
                       Description=f"socbot {playbook}: {instance_id} {device}"[:255],
                       TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}])
    return str(created["SnapshotId"])


def tag_instance(ec2: Any, instance_id: str, key: str, playbook: str) -> None:
    """Tag the instance ``key`` = now (UTC) and ``socbot:playbook`` = ``playbook``."""
    aws_call(ec2.create_tags, Resources=[instance_id], Tags=[
        {"Key": key, "Value": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        {"Key": ACTION_TAG, "Value": playbook}])


# --- network ACLs ---------------------------------------------------------------------------

def entry_cidr(entry: dict[str, Any]) -> str:
    """The CIDR of a network ACL entry, IPv4 or IPv6."""
    return str(entry.get("CidrBlock") or entry.get("Ipv6CidrBlock") or "")


def _overlaps(cidr: str, network: Network) -> bool:
    try:
        other = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return other.version == network.version and other.overlaps(network)


def nacls_for(ec2: Any, *, vpc_id: str | None = None,
              subnet_ids: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The network ACLs associated with a VPC's subnets, or with the given subnets."""
    subnets = sorted(set(subnet_ids))
    if subnets:
        filters = [{"Name": "association.subnet-id", "Values": subnets}]
    else:
        filters = [{"Name": "vpc-id", "Values": [vpc_id or ""]}]
    acls = aws_call(ec2.describe_network_acls, Filters=filters)["NetworkAcls"]
    return sorted((a for a in acls if a.get("Associations")), key=lambda a: a["NetworkAclId"])


def deny_entries(acls: list[dict[str, Any]], network: Network,
                 rule_range: tuple[int, int]) -> tuple[list[dict[str, Any]], list[str]]:
    """The deny entries (inbound and outbound, all traffic) still missing for ``network``, and
    warnings about allow rules evaluated before them.

    An ACL that already denies exactly ``network`` in a direction, at any number, needs nothing
    there; otherwise the lowest free number of ``rule_range`` is used.
    """
    low, high = rule_range
    cidr_key = "CidrBlock" if network.version == 4 else "Ipv6CidrBlock"
    changes: list[dict[str, Any]] = []
    warnings: list[str] = []
    for acl in acls:
        acl_id = acl["NetworkAclId"]
        for egress in (False, True):
            entries = [e for e in acl.get("Entries", []) if bool(e.get("Egress")) == egress]
            if any(e.get("RuleAction") == "deny" and str(e.get("Protocol")) == "-1"
                   and entry_cidr(e) == str(network) for e in entries):
                continue
            used = {int(e["RuleNumber"]) for e in entries}
            number = next((n for n in range(low, high + 1) if n not in used), None)
            if number is None:
                raise PlaybookFailed(
                    f"{acl_id}: every rule number of playbooks.nacl_rule_range {low}-{high} "
                    f"is taken ({'outbound' if egress else 'inbound'}); widen the range")
            earlier = sorted(int(e["RuleNumber"]) for e in entries
                             if e.get("RuleAction") == "allow" and int(e["RuleNumber"]) < number
                             and _overlaps(entry_cidr(e), network))
            if earlier:
                warnings.append(f"{acl_id} {'outbound' if egress else 'inbound'} rule(s) "
                                f"{', '.join(map(str, earlier))} allow {network} before the deny")
            changes.append({"NetworkAclId": acl_id, "RuleNumber": number, "Egress": egress,
                            "Protocol": "-1", "RuleAction": "deny", cidr_key: str(network)})
    return changes, warnings


def describe_entry(entry: dict[str, Any]) -> str:
    """``acl-0abc inbound #3 deny 203.0.113.7/32``."""
    direction = "outbound" if entry["Egress"] else "inbound"
    return f"{entry['NetworkAclId']} {direction} #{entry['RuleNumber']} deny {entry_cidr(entry)}"


def add_entries(ec2: Any, entries: list[dict[str, Any]], added: list[dict[str, Any]]) -> None:
    """Create the entries in order, appending each to ``added`` once it exists."""
    for entry in entries:
        aws_call(ec2.create_network_acl_entry, **entry)
        added.append(entry)


def remove_entries(ec2: Any, entries: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Delete the entries socbot made, each only if it is still the same deny rule.

    Returns (removed, skipped) as descriptions: a rule number reused by someone else since is
    left alone.
    """
    removed: list[str] = []
    skipped: list[str] = []
    by_acl: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_acl.setdefault(entry["NetworkAclId"], []).append(entry)
    for acl_id, wanted in sorted(by_acl.items()):
        acls = aws_call(ec2.describe_network_acls, NetworkAclIds=[acl_id])["NetworkAcls"]
        current = acls[0].get("Entries", []) if acls else []
        for entry in wanted:
            same = [e for e in current if int(e["RuleNumber"]) == entry["RuleNumber"]
                    and bool(e.get("Egress")) == entry["Egress"]
                    and e.get("RuleAction") == "deny" and entry_cidr(e) == entry_cidr(entry)]
            if not same:
                skipped.append(describe_entry(entry))
                continue
            aws_call(ec2.delete_network_acl_entry, NetworkAclId=acl_id,
                     RuleNumber=entry["RuleNumber"], Egress=entry["Egress"])
            removed.append(describe_entry(entry))
    return removed, skipped
