"""``restart-cloudtrail-logging``: start a stopped trail and restore emptied event selectors."""

from __future__ import annotations

from typing import Any

import boto3

from socbot.playbooks.base import Plan, Playbook, PlaybookFailed, Result, Target, aws_call
from socbot.playbooks.registry import register

# What a new trail logs: every management event, read and write.
SAFE_DEFAULT_SELECTORS: list[dict[str, Any]] = [
    {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []},
]


def logs_nothing(selectors: dict[str, Any]) -> bool:
    """True when a trail's selectors select no event at all (emptied, or all switched off)."""
    if selectors.get("AdvancedEventSelectors"):
        return False
    return not any(s.get("IncludeManagementEvents", True) or s.get("DataResources")
                   for s in selectors.get("EventSelectors", []))


@register
class RestartCloudtrailLogging(Playbook):
    """Turn a trail's logging back on after StopLogging, and undo emptied event selectors.

    Calls StartLogging (in the trail's home region) when the trail is not logging. When its
    event selectors select nothing (none left, or every one excluding management events with no
    data resources), restores the known-good snapshot ``playbooks.trail_event_selectors.<trail
    name>`` from the configuration, else the safe default: all management events, read and
    write. The trail must be in the alert's account. Undo data records the state found.
    """

    name = "restart-cloudtrail-logging"
    description = "Start logging on the trail and restore emptied event selectors"
    required_fields = ("trail_name", "cloud.region", "cloud.account.id")
    permissions = ("cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
                   "cloudtrail:GetEventSelectors", "cloudtrail:StartLogging",
                   "cloudtrail:PutEventSelectors")
    approvals_required = 1

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """Read the trail's logging status and selectors."""
        trail, client = self._trail(session, target)
        before = _state(client, trail["TrailARN"])
        changes: list[dict[str, Any]] = []
        if not before["IsLogging"]:
            changes.append({"op": "start_logging"})
        if logs_nothing(before):
            snapshot = self.settings.playbooks.trail_event_selectors.get(trail["Name"])
            changes.append({"op": "put_event_selectors",
                            "source": "configured snapshot" if snapshot else "safe default",
                            "EventSelectors": snapshot or SAFE_DEFAULT_SELECTORS})
        if not changes:
            return Plan([], f"{trail['Name']} is logging and its selectors select events",
                        before, before)
        steps = ["start logging" if c["op"] == "start_logging" else
                 f"restore event selectors from the {c['source']}" for c in changes]
        return Plan(changes, f"{trail['Name']}: {' and '.join(steps)}", before, None)

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Selectors first (so logging restarts with them), then StartLogging; read back."""
        trail, client = self._trail(session, target)
        arn = trail["TrailARN"]
        for change in sorted(plan.changes, key=lambda c: c["op"] != "put_event_selectors"):
            if change["op"] == "put_event_selectors":
                aws_call(client.put_event_selectors, TrailName=arn,
                         EventSelectors=change["EventSelectors"])
            else:
                aws_call(client.start_logging, Name=arn)
        after = _state(client, arn)
        if not after["IsLogging"] or logs_nothing(after):
            raise PlaybookFailed(f"{trail['Name']}: still not logging events after the "
                                 "restart; check the trail's bucket policy and KMS key")
        return Result(changed=True,
                      summary=plan.summary.replace(": start logging", ": logging started", 1),
                      before=plan.before, after=after,
                      undo={"previous": plan.before,
                            "note": "not undone automatically: that would stop logging"})

    @staticmethod
    def _trail(session: boto3.Session, target: Target) -> tuple[dict[str, Any], Any]:
        name = target["trail_name"]
        client = session.client("cloudtrail")
        trails = aws_call(client.describe_trails, trailNameList=[name],
                          includeShadowTrails=True)["trailList"]
        trail = next((t for t in trails if name in (t.get("Name"), t.get("TrailARN"))), None)
        if trail is None:
            raise PlaybookFailed(f"trail {name} does not exist in {target.region}",
                                 "TrailNotFoundException")
        target.check_owner(f"trail {name}", str(trail["TrailARN"]).split(":")[4])
        home = trail.get("HomeRegion") or target.region
        if home != target.region:
            client = session.client("cloudtrail", region_name=home)
        return dict(trail), client


def _state(client: Any, arn: str) -> dict[str, Any]:
    """Whether the trail logs, and its event selectors."""
    status = aws_call(client.get_trail_status, Name=arn)
    selectors = aws_call(client.get_event_selectors, TrailName=arn)
    return {"TrailARN": arn, "IsLogging": bool(status.get("IsLogging")),
            "EventSelectors": selectors.get("EventSelectors", []),
            "AdvancedEventSelectors": selectors.get("AdvancedEventSelectors", [])}
