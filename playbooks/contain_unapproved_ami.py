"""``contain-unapproved-ami``: stop (or, with two approvals, terminate) an unapproved instance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3

from socbot.playbooks.base import Plan, Playbook, PlaybookFailed, Result, Target, aws_call
from socbot.playbooks.ec2util import (
    describe_instance,
    facts_line,
    instance_facts,
    snapshot,
    snapshot_changes,
    tag_instance,
)
from socbot.playbooks.registry import register

CONTAINED_TAG = "socbot:contained"


@register
class ContainUnapprovedAmi(Playbook):
    """Contain an instance launched from an AMI that is not in ``approved_amis``.

    Mode ``stop`` (the default, reversible, one approval): tag the instance and stop it; undo
    starts it again. Mode ``terminate`` (destructive, two approvals): snapshot every attached
    volume first, since terminating deletes volumes marked DeleteOnTermination, then terminate.
    The AMI is read from EC2, not from the alert; the alert's ``image_id``, when present, must
    match it. Refuses an instance whose AMI is approved, and refuses to judge at all while
    ``approved_amis`` is empty. Termination protection makes terminate fail with that reason.
    """

    name = "contain-unapproved-ami"
    description = "Stop (or terminate, with two approvals) an instance from an unapproved AMI"
    required_fields = ("instance_id", "cloud.region", "cloud.account.id")
    optional_fields = ("image_id",)
    schema = {
        "type": "object", "additionalProperties": False,
        "properties": {"mode": {"type": "string", "enum": ["stop", "terminate"]}},
    }
    destructive_params = {"mode": ("terminate",)}
    permissions = ("ec2:DescribeInstances", "ec2:CreateTags", "ec2:StopInstances",
                   "ec2:StartInstances", "ec2:DescribeSnapshots", "ec2:CreateSnapshot",
                   "ec2:TerminateInstances")
    approvals_required = 1
    undoable = True

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """Check the AMI against the approved list; plan the stop or the termination."""
        approved = set(self.settings.approved_amis)
        instance_id = target["instance_id"]
        if not approved:
            raise PlaybookFailed("approved_amis is empty, so every AMI would count as "
                                 "unapproved; list your approved AMI ids in the configuration")
        ec2 = session.client("ec2")
        instance = describe_instance(ec2, target)
        facts = instance_facts(instance)
        image = facts["image_id"]
        alert_image = self.optional(target, "image_id")
        if alert_image and alert_image != image:
            raise PlaybookFailed(f"{instance_id} runs {image}, not {alert_image} as the alert "
                                 "says; check the alert before containing anything")
        if image in approved:
            raise PlaybookFailed(f"refusing: {instance_id} runs {image}, which is in "
                                 "approved_amis")
        state = facts["state"]
        before = {"instance": facts}
        mode = self.params.get("mode", "stop")
        if state in ("terminated", "shutting-down"):
            return Plan([], f"{instance_id} is already {state}. {facts_line(facts)}",
                        before, before)
        changes: list[dict[str, Any]] = []
        if mode == "stop":
            if state in ("stopped", "stopping"):
                return Plan([], f"{instance_id} is already {state}. {facts_line(facts)}",
                            before, before)
            changes = [{"op": "tag"}, {"op": "stop"}]
        else:
            changes = [*snapshot_changes(ec2, instance), {"op": "tag"}, {"op": "terminate"}]
        words = {"tag": f"tag {CONTAINED_TAG}", "stop": "stop it", "terminate":
                 "TERMINATE it (irreversible)"}
        steps = [words.get(c["op"]) or f"snapshot {c['volume']}" for c in changes]
        summary = (f"{instance_id} runs unapproved {image}: {', '.join(steps)}. "
                   f"{facts_line(facts)}")
        return Plan(changes, summary, before, None)

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Snapshot (terminate mode), tag, then stop or terminate."""
        ec2 = session.client("ec2")
        instance_id = target["instance_id"]
        snapshots: list[str] = []
        for change in plan.changes:
            if change["op"] == "snapshot":
                snapshots.append(snapshot(ec2, instance_id, change["volume"], change["device"],
                                          self.name))
            elif change["op"] == "tag":
                tag_instance(ec2, instance_id, CONTAINED_TAG, self.name)
            elif change["op"] == "stop":
                aws_call(ec2.stop_instances, InstanceIds=[instance_id])
            elif change["op"] == "terminate":
                aws_call(ec2.terminate_instances, InstanceIds=[instance_id])
        after = instance_facts(describe_instance(ec2, target))
        if self.params.get("mode", "stop") == "stop":
            undo: dict[str, Any] = {"operation": "ec2:StartInstances",
                                    "InstanceIds": [instance_id]}
            done = "stopped"
        else:
            undo = {"irreversible": "terminated", "snapshots": snapshots}
            done = f"terminated (snapshots {', '.join(snapshots) or 'none'})"
        return Result(changed=True, summary=f"{instance_id} ({after['image_id']}): {done}. "
                      f"{facts_line(after)}", before=plan.before, after={"instance": after},
                      undo=undo, details=after)

    def undo(self, session: boto3.Session, target: Target, undo: Mapping[str, Any]) -> Result:
        """Start a stopped instance again (a terminated one cannot come back)."""
        if undo.get("operation") != "ec2:StartInstances":
            return super().undo(session, target, undo)
        ec2 = session.client("ec2")
        state = instance_facts(describe_instance(ec2, target))["state"]
        if state in ("running", "pending"):
            return Result(False, f"{target['instance_id']} is already {state}")
        aws_call(ec2.start_instances, InstanceIds=[target["instance_id"]])
        return Result(True, f"{target['instance_id']}: started again", before=state)
