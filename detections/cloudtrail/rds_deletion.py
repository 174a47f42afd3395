"""An RDS database deleted, or its deletion protection turned off."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

DELETE = ("DeleteDBInstance", "DeleteDBCluster")
MODIFY = ("ModifyDBInstance", "ModifyDBCluster")


def _rds(name: str, request: dict[str, object], error: str | None = None) -> RawRecord:
    return ct(name, request, error=error, source="rds.amazonaws.com")


@rule(
    id="cloudtrail.rds_deletion",
    title="RDS database deleted or unprotected",
    severity="medium",
    datasets=("cloudtrail",),
    actions=(*DELETE, *MODIFY),
    mitre=("T1485", "T1490"),
    runbook="Confirm the change with the database's owner. Without a final snapshot the data "
            "is gone unless a backup or snapshot remains; check rds_backups_deleted too.",
    tests=(
        Case("an instance deleted without a final snapshot", fires=True,
             events=(_rds("DeleteDBInstance", {"dBInstanceIdentifier": "orders",
                                               "skipFinalSnapshot": True,
                                               "deleteAutomatedBackups": True}),)),
        Case("a cluster deleted", fires=True,
             events=(_rds("DeleteDBCluster", {"dBClusterIdentifier": "orders",
                                              "finalDBSnapshotIdentifier": "orders-final"}),)),
        Case("deletion protection turned off", fires=True,
             events=(_rds("ModifyDBCluster", {"dBClusterIdentifier": "orders",
                                              "deletionProtection": False}),)),
        Case("deletion protection turned on", fires=False,
             events=(_rds("ModifyDBInstance", {"dBInstanceIdentifier": "orders",
                                               "deletionProtection": True}),)),
        Case("deletion refused by the protection", fires=False,
             events=(_rds("DeleteDBInstance", {"dBInstanceIdentifier": "orders"},
                          error="InvalidParameterCombination"),)),
    ),
)
def rds_deletion(event: Event) -> Match | None:
    """DeleteDBInstance or DeleteDBCluster (high without a final snapshot or when automated
    backups go with it), or ModifyDB* with ``deletionProtection: false`` (medium); succeeded."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (
            None, "rds.amazonaws.com"):
        return None
    request = params(event)
    action = event["event.action"]
    database = str(request.get("dBInstanceIdentifier") or request.get("dBClusterIdentifier")
                   or "?")
    actor = event.get("user.name", "?")
    if action in MODIFY:
        if request.get("deletionProtection") is not False:
            return None
        severity, title = None, f"RDS {database} deletion protection turned off by {actor}"
    else:
        final = not request.get("skipFinalSnapshot")
        lost = not final or request.get("deleteAutomatedBackups") is True
        severity = "high" if lost else None
        title = f"RDS {database} deleted by {actor}" + (
            " without a final snapshot" if not final else "")
    return Match(dedup=scope(event, database), entity={"type": "rds", "value": database},
                 severity=severity, title=title,
                 context=aws_context(event, db_identifier=database,
                                     skip_final_snapshot=request.get("skipFinalSnapshot")))
