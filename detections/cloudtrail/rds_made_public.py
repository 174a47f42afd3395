"""An RDS database made reachable from the Internet, by a change or a restore."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, response, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

MODIFY = ("ModifyDBInstance", "ModifyDBCluster")
RESTORE = ("RestoreDBInstanceFromDBSnapshot", "RestoreDBInstanceToPointInTime",
           "RestoreDBInstanceFromS3", "CreateDBInstance", "CreateDBInstanceReadReplica")


def _rds(name: str, request: dict[str, object], response_elements: object = None,
         error: str | None = None) -> RawRecord:
    return ct(name, request, response_elements=response_elements, error=error,
              source="rds.amazonaws.com")


@rule(
    id="cloudtrail.rds_made_public",
    title="RDS database made public",
    severity="high",
    datasets=("cloudtrail",),
    actions=(*MODIFY, *RESTORE),
    mitre=("T1578.005", "T1530"),
    runbook="A database now answers on a public address. Turn publiclyAccessible off, check "
            "its security groups for 0.0.0.0/0, and read its connection log for strangers.",
    tests=(
        Case("an instance modified to be publicly accessible", fires=True,
             events=(_rds("ModifyDBInstance", {"dBInstanceIdentifier": "orders",
                                               "publiclyAccessible": True,
                                               "applyImmediately": True}),)),
        Case("a snapshot restored as a public instance", fires=True,
             events=(_rds("RestoreDBInstanceFromDBSnapshot",
                          {"dBInstanceIdentifier": "orders-copy",
                           "dBSnapshotIdentifier": "orders-2026-11-22"},
                          {"dBInstanceIdentifier": "orders-copy", "publiclyAccessible": True}),)),
        Case("made private", fires=False,
             events=(_rds("ModifyDBInstance", {"dBInstanceIdentifier": "orders",
                                               "publiclyAccessible": False}),)),
        Case("a restore that stays private", fires=False,
             events=(_rds("RestoreDBInstanceFromDBSnapshot",
                          {"dBInstanceIdentifier": "orders-copy"},
                          {"dBInstanceIdentifier": "orders-copy",
                           "publiclyAccessible": False}),)),
        Case("a refused change", fires=False,
             events=(_rds("ModifyDBInstance", {"dBInstanceIdentifier": "orders",
                                               "publiclyAccessible": True},
                          error="AccessDenied"),)),
    ),
)
def rds_made_public(event: Event) -> Match | None:
    """ModifyDBInstance or ModifyDBCluster with ``publiclyAccessible: true``, or an instance
    created or restored (snapshot, point in time, S3, replica) that the response says is
    publicly accessible; succeeded."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (
            None, "rds.amazonaws.com"):
        return None
    request, result = params(event), response(event)
    if event["event.action"] in MODIFY:
        if request.get("publiclyAccessible") is not True:
            return None
        verb = "made public"
    else:
        if result.get("publiclyAccessible") is not True:
            return None
        verb = "restored as public" if "Restore" in event["event.action"] else "created public"
    database = str(request.get("dBInstanceIdentifier") or request.get("dBClusterIdentifier")
                   or result.get("dBInstanceIdentifier") or "?")
    return Match(dedup=scope(event, database), entity={"type": "rds", "value": database},
                 title=f"RDS {database} {verb} by {event.get('user.name', '?')}",
                 context=aws_context(event, db_identifier=database))
