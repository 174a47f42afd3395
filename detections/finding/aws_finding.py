"""A finding of AWS's own detectors (GuardDuty, Security Hub, Access Analyzer, Macie) as an
alert, with the playbooks that answer its type."""

from __future__ import annotations

from typing import Any

from socbot.core.events import Event
from socbot.detections.rule import Case, Match, RawRecord, rule

ACCOUNT = "111122223333"
# GuardDuty finding type prefixes (ThreatPurpose:ResourceType/...) -> playbooks, first match.
GUARDDUTY_PLAYBOOKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration", ("disable-access-key",)),
    ("Stealth:IAMUser/CloudTrailLoggingDisabled", ("restart-cloudtrail-logging",)),
    ("UnauthorizedAccess:EC2/SSHBruteForce", ("block-ip-nacl", "ssm-triage")),
    ("UnauthorizedAccess:EC2/RDPBruteForce", ("block-ip-nacl",)),
    ("Recon:EC2/PortProbeUnprotectedPort", ("revoke-world-ingress", "block-ip-nacl")),
    ("Recon:EC2/PortProbeEMRUnprotectedPort", ("revoke-world-ingress",)),
    ("Impact:S3/ObjectDelete", ("restore-s3-object",)),
    (":EC2/", ("quarantine-instance", "ssm-triage")),
    (":Runtime/", ("quarantine-instance", "ssm-triage")),
    (":IAMUser/", ("disable-access-key",)),
)
# Security Hub resource types -> playbooks (for failed controls and imported findings alike).
RESOURCE_PLAYBOOKS = {"AwsEc2Instance": ("quarantine-instance", "ssm-triage"),
                      "AwsIamAccessKey": ("disable-access-key",),
                      "AwsEc2SecurityGroup": ("revoke-world-ingress",),
                      "AwsCloudTrailTrail": ("restart-cloudtrail-logging",)}
# ThreatPurpose of a GuardDuty type -> MITRE ATT&CK tactic, for the alert's context.
TACTICS = {"Backdoor": "TA0011", "CredentialAccess": "TA0006", "CryptoCurrency": "TA0040",
           "DefenseEvasion": "TA0005", "Discovery": "TA0007", "Execution": "TA0002",
           "Exfiltration": "TA0010", "Impact": "TA0040", "InitialAccess": "TA0001",
           "Persistence": "TA0003", "PrivilegeEscalation": "TA0004", "Recon": "TA0043",
           "Stealth": "TA0005", "Trojan": "TA0011", "UnauthorizedAccess": "TA0001",
           "Policy": "TA0005", "PenTest": "TA0043"}


def _envelope(detail_type: str, detail: dict[str, Any]) -> RawRecord:
    return RawRecord("finding", {
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": detail_type, "source": "aws." + detail_type.split()[0].lower(),
        "account": ACCOUNT, "time": "2026-11-23T03:00:00Z", "region": "us-east-1",
        "resources": [], "detail": detail})


def _guardduty(kind: str, severity: float, resource: dict[str, Any],
               archived: bool = False, updated: str = "2026-11-23T03:00:00.000Z") -> RawRecord:
    return _envelope("GuardDuty Finding", {
        "schemaVersion": "2.0", "accountId": ACCOUNT, "region": "us-east-1",
        "partition": "aws", "id": "16afba5c5c43e07c9e3e5e2e544e95df",
        "arn": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/12abc34d567e8fa901bc2d34e56789f0"
               "/finding/16afba5c5c43e07c9e3e5e2e544e95df",
        "type": kind, "resource": resource, "severity": severity,
        "service": {"serviceName": "guardduty", "detectorId": "12abc34d567e8fa901bc2d34e56789f0",
                    "archived": archived, "count": 1,
                    "action": {"actionType": "AWS_API_CALL", "awsApiCallAction": {
                        "api": "ListBuckets", "serviceName": "s3.amazonaws.com",
                        "callerType": "Remote IP",
                        "remoteIpDetails": {"ipAddressV4": "198.51.100.1"}}}},
        "createdAt": "2026-11-23T02:50:00.000Z", "updatedAt": updated,
        "title": f"{kind} finding", "description": "sample"})


_KEY = {"resourceType": "AccessKey", "accessKeyDetails": {
    "accessKeyId": "ASIASZEXAMPLE0000001", "principalId": "AROAEXAMPLE:i-0123456789abcdef0",
    "userName": "app-instance-role", "userType": "AssumedRole"}}
_INSTANCE = {"resourceType": "Instance", "instanceDetails": {
    "instanceId": "i-0123456789abcdef0", "networkInterfaces": [{
        "vpcId": "vpc-0123456789abcdef0", "publicIp": "203.0.113.10",
        "securityGroups": [{"groupId": "sg-0123456789abcdef0", "groupName": "web"}]}]}}


@rule(
    id="finding.aws_finding",
    title="{finding.title}",
    severity="medium",
    datasets=("finding",),
    actions=None,
    mitre=("TA0001", "TA0005", "TA0006", "TA0010", "TA0040"),
    runbook="AWS's detector found this; its console page has the evidence. Follow the "
            "finding type's remediation, use the playbook buttons, and archive the finding "
            "in its service once handled.",
    dedup_window_s=7 * 86400,
    tests=(
        Case("GuardDuty: instance credentials used outside AWS", fires=True,
             events=(_guardduty("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration"
                                ".OutsideAWS", 8, _KEY),)),
        Case("GuardDuty: an instance talking to a command-and-control server", fires=True,
             events=(_guardduty("Backdoor:EC2/C&CActivity.B!DNS", 8, _INSTANCE),)),
        Case("GuardDuty: an archived finding", fires=False,
             events=(_guardduty("Recon:EC2/PortProbeUnprotectedPort", 2, _INSTANCE,
                                archived=True),)),
        Case("Security Hub: a failed critical control", fires=True,
             events=(_envelope("Security Hub Findings - Imported", {"findings": [{
                 "SchemaVersion": "2018-10-08",
                 "Id": f"arn:aws:securityhub:us-east-1:{ACCOUNT}:subscription/aws-foundational"
                       "-security-best-practices/v/1.0.0/EC2.19/finding/5d1c0bc9",
                 "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
                 "GeneratorId": "aws-foundational-security-best-practices/v/1.0.0/EC2.19",
                 "AwsAccountId": ACCOUNT, "Region": "us-east-1",
                 "Types": ["Software and Configuration Checks/Industry and Regulatory "
                           "Standards/AWS-Foundational-Security-Best-Practices"],
                 "CreatedAt": "2026-11-23T02:00:00.000Z",
                 "UpdatedAt": "2026-11-23T03:00:00.000Z",
                 "Severity": {"Label": "CRITICAL", "Normalized": 90, "Original": "CRITICAL"},
                 "Title": "EC2.19 Security groups should not allow unrestricted access to "
                          "ports with high risk",
                 "Resources": [{"Type": "AwsEc2SecurityGroup", "Partition": "aws",
                                "Region": "us-east-1",
                                "Id": f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/"
                                      "sg-0123456789abcdef0"}],
                 "Compliance": {"Status": "FAILED"}, "Workflow": {"Status": "NEW"},
                 "RecordState": "ACTIVE"}]}),)),
        Case("Security Hub: a suppressed finding", fires=False,
             events=(_envelope("Security Hub Findings - Imported", {"findings": [{
                 "SchemaVersion": "2018-10-08", "Id": "f-1",
                 "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
                 "AwsAccountId": ACCOUNT, "Region": "us-east-1",
                 "UpdatedAt": "2026-11-23T03:00:00.000Z", "Severity": {"Label": "HIGH"},
                 "Title": "t", "Workflow": {"Status": "SUPPRESSED"}}]}),)),
        Case("Access Analyzer: a bucket shared with everyone", fires=True,
             events=(_envelope("Access Analyzer Finding", {
                 "version": "1.0", "id": "a5019b47-a7a5-4dfd-9ba7-8f0f5e6e2fbd",
                 "status": "ACTIVE", "resourceType": "AWS::S3::Bucket",
                 "resource": "arn:aws:s3:::reports-archive", "accountId": ACCOUNT,
                 "region": "us-east-1", "principal": {"AWS": "*"}, "action": ["s3:GetObject"],
                 "condition": {}, "isDeleted": False, "isPublic": True,
                 "createdAt": "2026-11-23T02:59:00Z", "analyzedAt": "2026-11-23T03:00:00Z",
                 "updatedAt": "2026-11-23T03:00:00Z"}),)),
        Case("Macie: personal data in a bucket", fires=True,
             events=(_envelope("Macie Finding", {
                 "schemaVersion": "1.0", "id": "64b917aa-3843-014c-91d8-937ffEXAMPLE",
                 "accountId": ACCOUNT, "partition": "aws", "region": "us-east-1",
                 "type": "SensitiveData:S3Object/Personal", "title": "The S3 object contains "
                 "personal information.", "severity": {"score": 2, "description": "Medium"},
                 "category": "CLASSIFICATION", "archived": False, "count": 1,
                 "createdAt": "2026-11-23T02:59:00Z", "updatedAt": "2026-11-23T03:00:00Z",
                 "resourcesAffected": {"s3Bucket": {"name": "hr-exports"},
                                       "s3Object": {"key": "2026/staff.csv"}}}),)),
    ),
)
def aws_finding(event: Event) -> Match | None:
    """Every active finding (not archived, resolved or suppressed) of GuardDuty, Security Hub,
    IAM Access Analyzer or Macie, at the severity the collector mapped; one alert per finding
    id, which later updates of the finding raise again."""
    if event.get("finding.active") is not True:
        return None
    kind = str(event.get("finding.type", ""))
    provider = str(event.get("event.provider", ""))
    entity = next(({"type": name, "value": str(event[field])} for field, name in (
        ("instance_id", "instance"), ("access_key_id", "access_key"),
        ("iam_user", "iam_user"), ("user.name", "aws_principal"), ("bucket", "s3_bucket"),
        ("aws.resource.id", "aws_resource")) if event.get(field)),
        {"type": "aws_account", "value": str(event.get("cloud.account.id", "?"))})
    playbooks: tuple[str, ...] = ()
    if provider == "guardduty":
        playbooks = next((p for prefix, p in GUARDDUTY_PLAYBOOKS
                          if kind.startswith(prefix) or (prefix.startswith(":")
                                                         and prefix in kind)), ())
    elif provider == "securityhub":
        playbooks = RESOURCE_PLAYBOOKS.get(str(event.get("aws.resource.type", "")), ())
    context = {name: event[name] for name in (
        "finding.id", "finding.type", "finding.severity_original", "instance_id", "vpc_id",
        "group_id", "access_key_id", "iam_user", "bucket", "object_key", "aws.resource.id")
        if event.get(name)}
    tactic = TACTICS.get(kind.split(":", 1)[0]) if provider == "guardduty" else None
    if tactic:
        context["mitre_tactic"] = tactic
    label = {"guardduty": "GuardDuty", "securityhub": "Security Hub",
             "access_analyzer": "Access Analyzer", "macie": "Macie"}.get(provider, provider)
    return Match(dedup=f"{provider}:{event.get('finding.id')}", entity=entity,
                 severity=str(event.get("finding.severity") or "medium"),
                 title=f"{label}: {event.get('finding.title', kind)}",
                 playbooks=playbooks, context=context)
