"""RDS automated backups or snapshots deleted, or backups turned off."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, principal, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

DELETE = ("DeleteDBInstanceAutomatedBackup", "DeleteDBClusterAutomatedBackup",
          "DeleteDBSnapshot", "DeleteDBClusterSnapshot")
MODIFY = ("ModifyDBInstance", "ModifyDBCluster")
_ID_FIELDS = ("dBSnapshotIdentifier", "dBClusterSnapshotIdentifier", "dbiResourceId",
              "dbClusterResourceId", "dBInstanceAutomatedBackupsArn", "dBInstanceIdentifier",
              "dBClusterIdentifier")


def _rds(name: str, request: dict[str, object], error: str | None = None) -> RawRecord:
    return ct(name, request, error=error, source="rds.amazonaws.com")


@rule(
    id="cloudtrail.rds_backups_deleted",
    title="RDS backups deleted",
    severity="high",
    datasets=("cloudtrail",),
    actions=(*DELETE, *MODIFY),
    mitre=("T1490", "T1485"),
    runbook="Recovery points of a database are going away: ransomware and sabotage start so. "
            "Confirm with the database's owner; restore backup retention and check what else "
            "the principal deleted.",
    tests=(
        Case("an automated backup deleted", fires=True,
             events=(_rds("DeleteDBInstanceAutomatedBackup",
                          {"dbiResourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWXY1"}),)),
        Case("a cluster snapshot deleted", fires=True,
             events=(_rds("DeleteDBClusterSnapshot",
                          {"dBClusterSnapshotIdentifier": "orders-final"}),)),
        Case("backup retention set to zero", fires=True,
             events=(_rds("ModifyDBInstance", {"dBInstanceIdentifier": "orders",
                                               "backupRetentionPeriod": 0}),)),
        Case("backup retention raised", fires=False,
             events=(_rds("ModifyDBInstance", {"dBInstanceIdentifier": "orders",
                                               "backupRetentionPeriod": 14}),)),
        Case("a refused deletion", fires=False,
             events=(_rds("DeleteDBSnapshot", {"dBSnapshotIdentifier": "orders-1"},
                          error="AccessDenied"),)),
    ),
)
def rds_backups_deleted(event: Event) -> Match | None:
    """DeleteDB(Instance|Cluster)AutomatedBackup or DeleteDB(Cluster)Snapshot, or ModifyDB*
    with ``backupRetentionPeriod: 0`` (automated backups off); succeeded."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (
            None, "rds.amazonaws.com"):
        return None
    request = params(event)
    action = event["event.action"]
    if action in MODIFY and request.get("backupRetentionPeriod") != 0:
        return None
    target = next((str(request[f]) for f in _ID_FIELDS if request.get(f)), "?")
    what = ("automated backups turned off for" if action in MODIFY
            else "automated backup deleted:" if "AutomatedBackup" in action
            else "snapshot deleted:")
    return Match(dedup=scope(event, event.get("user.name")), entity=principal(event),
                 title=f"RDS {what} {target} by {event.get('user.name', '?')}",
                 context=aws_context(event, rds_resource=target))
