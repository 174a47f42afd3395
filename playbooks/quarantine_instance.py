"""``quarantine-instance``: cut an instance off the network and keep its disks as evidence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

from socbot.playbooks.base import (
    Plan,
    Playbook,
    PlaybookFailed,
    PlaybookInputError,
    Result,
    Target,
    aws_call,
)
from socbot.playbooks.block_ip_nacl import blocked_network
from socbot.playbooks.ec2util import (
    ACTION_TAG,
    QUARANTINE_TAG,
    add_entries,
    deny_entries,
    describe_entry,
    describe_instance,
    facts_line,
    instance_facts,
    interface_groups,
    nacls_for,
    remove_entries,
    snapshot,
    snapshot_changes,
    tag_instance,
)
from socbot.playbooks.registry import register

ISOLATION_DESCRIPTION = "socbot quarantine: no inbound or outbound rules"


@register
class QuarantineInstance(Playbook):
    """Isolate an EC2 instance: an empty security group on every network interface.

    The isolation group (``playbooks.isolation_group_name``, one per VPC) is created if missing
    and kept without any rule, inbound or outbound; rules someone added to it are removed. Every
    network interface gets it as its only group, and its old groups are recorded for undo. Every
    attached EBS volume is snapshotted once (tagged ``socbot:snapshot-of``), the instance is
    tagged ``socbot:quarantine``. Options: ``stop`` stops the instance after the snapshots;
    ``nacl_deny`` denies the alert's ``source.ip`` in the network ACLs of the instance's
    subnets, since changing security groups does not cut connections already tracked. The
    instance's facts go to the alert's thread. Undo puts the old groups back and removes the
    ACL rules; snapshots stay, and a stopped instance is left for a person to start.
    """

    name = "quarantine-instance"
    description = "Isolate the instance (empty security group), snapshot its volumes, tag it"
    required_fields = ("instance_id", "cloud.region", "cloud.account.id")
    optional_fields = ("source.ip",)
    schema = {
        "type": "object", "additionalProperties": False,
        "properties": {"stop": {"type": "boolean"}, "nacl_deny": {"type": "boolean"}},
    }
    permissions = (
        "ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "ec2:CreateSecurityGroup",
        "ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress",
        "ec2:ModifyNetworkInterfaceAttribute", "ec2:DescribeSnapshots", "ec2:CreateSnapshot",
        "ec2:CreateTags", "ec2:DeleteTags", "ec2:StopInstances", "ec2:DescribeNetworkAcls",
        "ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAclEntry",
    )
    approvals_required = 1
    undoable = True

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """Every step still needed: group, interfaces, snapshots, tag, stop, ACL rules."""
        ec2 = session.client("ec2")
        instance = describe_instance(ec2, target)
        instance_id = target["instance_id"]
        facts = instance_facts(instance)
        state = facts["state"]
        if state in ("terminated", "shutting-down"):
            raise PlaybookFailed(f"{instance_id} is {state}; there is nothing to quarantine")
        vpc_id = instance.get("VpcId")
        if not vpc_id:
            raise PlaybookFailed(f"{instance_id} is not in a VPC; quarantine needs one")
        group = self._isolation_group(ec2, vpc_id)
        group_id = group["GroupId"] if group else None
        changes: list[dict[str, Any]] = []
        if group is None:
            changes.append({"op": "create_group", "vpc_id": vpc_id})
        elif group.get("IpPermissions") or group.get("IpPermissionsEgress"):
            changes.append({"op": "empty_group", "group_id": group_id,
                            "ingress": group.get("IpPermissions", []),
                            "egress": group.get("IpPermissionsEgress", [])})
        interfaces = interface_groups(instance)
        changes += [{"op": "swap_groups", "interface": eni, "from": groups}
                    for eni, groups in sorted(interfaces.items())
                    if group_id is None or groups != [group_id]]
        changes += snapshot_changes(ec2, instance)
        tags = {t["Key"] for t in instance.get("Tags", [])}
        if QUARANTINE_TAG not in tags:
            changes.append({"op": "tag"})
        if self.params.get("stop") and state in ("pending", "running"):
            changes.append({"op": "stop"})
        if self.params.get("nacl_deny"):
            changes += self._nacl_changes(ec2, target, interfaces, instance)
        before = {"instance": facts, "interfaces": interfaces, "isolation_group": group_id}
        if not changes:
            return Plan([], f"{instance_id} is already quarantined. {facts_line(facts)}",
                        before, before)
        summary = (f"{instance_id}: {', '.join(_describe(c) for c in changes)}. "
                   f"{facts_line(facts)}")
        return Plan(changes, summary, before, None)

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Make the planned steps in order: network first, then evidence, then stop."""
        ec2 = session.client("ec2")
        instance_id = target["instance_id"]
        before = plan.before
        group_id = before["isolation_group"]
        undo: dict[str, Any] = {"isolation_group": group_id, "interfaces": {},
                                "snapshots": [], "nacl_entries": [], "stopped": False,
                                "tagged": False, "created_group": False}
        done: list[str] = []
        try:
            for change in plan.changes:
                op = change["op"]
                if op == "create_group":
                    group_id = self._create_group(ec2, before["instance"]["vpc_id"])
                    undo.update(isolation_group=group_id, created_group=True)
                elif op == "empty_group":
                    _empty_group(ec2, change)
                elif op == "swap_groups":
                    aws_call(ec2.modify_network_interface_attribute,
                             NetworkInterfaceId=change["interface"], Groups=[group_id])
                    undo["interfaces"][change["interface"]] = change["from"]
                elif op == "snapshot":
                    undo["snapshots"].append(snapshot(ec2, instance_id, change["volume"],
                                                      change["device"], self.name))
                elif op == "tag":
                    tag_instance(ec2, instance_id, QUARANTINE_TAG, self.name)
                    undo["tagged"] = True
                elif op == "stop":
                    aws_call(ec2.stop_instances, InstanceIds=[instance_id])
                    undo["stopped"] = True
                elif op == "nacl":
                    add_entries(ec2, [change["entry"]], undo["nacl_entries"])
                done.append(_describe(change))
        except (PlaybookFailed, ClientError) as exc:
            partial = Result(changed=bool(done), summary=f"done before the failure: "
                             f"{', '.join(done) or 'nothing'}", before=before, undo=undo)
            if isinstance(exc, PlaybookFailed):
                exc.partial = partial
                raise
            raise PlaybookFailed(f"{instance_id}: {exc}", partial=partial) from exc
        after = describe_instance(ec2, target)
        facts = instance_facts(after)
        interfaces = interface_groups(after)
        leaky = [eni for eni, groups in interfaces.items() if groups != [group_id]]
        if leaky:
            raise PlaybookFailed(f"{instance_id}: interface(s) {', '.join(leaky)} still have "
                                 "other groups after the swap", partial=Result(
                                     changed=True, summary="partly quarantined", before=before,
                                     after=interfaces, undo=undo))
        note = ("" if undo["stopped"] or undo["nacl_entries"] else
                " Connections already open may persist: stop the instance or use nacl_deny "
                "to cut them.")
        return Result(
            changed=True, summary=f"{instance_id}: {', '.join(done)}.{note} {facts_line(facts)}",
            before=before, after={"instance": facts, "interfaces": interfaces},
            undo=undo, details=facts)

    def undo(self, session: boto3.Session, target: Target, undo: Mapping[str, Any]) -> Result:
        """Put the recorded groups back on each interface still isolated; remove ACL rules and
        the quarantine tag. Snapshots are kept; a stopped instance is not started."""
        ec2 = session.client("ec2")
        current = interface_groups(describe_instance(ec2, target))
        restored = []
        for eni, groups in sorted(dict(undo.get("interfaces", {})).items()):
            if current.get(eni) == [undo.get("isolation_group")]:
                aws_call(ec2.modify_network_interface_attribute, NetworkInterfaceId=eni,
                         Groups=list(groups))
                restored.append(eni)
        removed, skipped = remove_entries(ec2, list(undo.get("nacl_entries", [])))
        if undo.get("tagged"):
            aws_call(ec2.delete_tags, Resources=[target["instance_id"]],
                     Tags=[{"Key": QUARANTINE_TAG}])
        summary = (f"{target['instance_id']}: old groups back on {len(restored)} interface(s)"
                   f"; removed {len(removed)} network ACL rule(s)")
        if skipped:
            summary += f"; left {len(skipped)} changed rule(s)"
        if undo.get("stopped"):
            summary += "; the instance stays stopped: start it when you are sure"
        return Result(changed=bool(restored or removed), summary=summary, before=current,
                      after=restored)

    def _isolation_group(self, ec2: Any, vpc_id: str) -> dict[str, Any] | None:
        groups = aws_call(ec2.describe_security_groups, Filters=[
            {"Name": "group-name", "Values": [self.settings.playbooks.isolation_group_name]},
            {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
        return dict(groups[0]) if groups else None

    def _create_group(self, ec2: Any, vpc_id: str) -> str:
        group_id = str(aws_call(
            ec2.create_security_group, GroupName=self.settings.playbooks.isolation_group_name,
            Description=ISOLATION_DESCRIPTION, VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group",
                                "Tags": [{"Key": ACTION_TAG, "Value": self.name}]}])["GroupId"])
        # A new VPC group allows all outbound traffic: remove that rule, so nothing is allowed.
        created = self._isolation_group(ec2, vpc_id) or {}
        _empty_group(ec2, {"group_id": group_id, "ingress": created.get("IpPermissions", []),
                           "egress": created.get("IpPermissionsEgress", [])})
        return group_id

    def _nacl_changes(self, ec2: Any, target: Target, interfaces: Mapping[str, Any],
                      instance: Mapping[str, Any]) -> list[dict[str, Any]]:
        ip = self.optional(target, "source.ip")
        if ip is None:
            raise PlaybookInputError("quarantine-instance: nacl_deny needs the alert field "
                                     "'source.ip' (the address to cut off); the alert has none")
        subnets = {eni.get("SubnetId") for eni in instance.get("NetworkInterfaces", [])}
        acls = nacls_for(ec2, subnet_ids=[s for s in subnets if s])
        entries, _warnings = deny_entries(acls, blocked_network(ip, None),
                                          self.settings.playbooks.nacl_rule_range)
        return [{"op": "nacl", "entry": entry} for entry in entries]


def _empty_group(ec2: Any, change: Mapping[str, Any]) -> None:
    if change.get("ingress"):
        aws_call(ec2.revoke_security_group_ingress, GroupId=change["group_id"],
                 IpPermissions=change["ingress"])
    if change.get("egress"):
        aws_call(ec2.revoke_security_group_egress, GroupId=change["group_id"],
                 IpPermissions=change["egress"])


def _describe(change: Mapping[str, Any]) -> str:
    op = change["op"]
    if op == "create_group":
        return "create the isolation group"
    if op == "empty_group":
        return f"remove the rules added to isolation group {change['group_id']}"
    if op == "swap_groups":
        return f"isolate {change['interface']} (was {', '.join(change['from']) or 'no group'})"
    if op == "snapshot":
        return f"snapshot {change['volume']} ({change['device']})"
    if op == "tag":
        return f"tag {QUARANTINE_TAG}"
    if op == "stop":
        return "stop the instance"
    return f"add {describe_entry(change['entry'])}"
