"""Findings of GuardDuty, Security Hub, Access Analyzer and Macie: read from files and SQS,
deduplicated by finding id and updatedAt, mapped to severity and playbooks, made alerts.

The findings are written after the samples in AWS's documentation (GuardDuty's finding
format and sample findings, the ASFF syntax, Access Analyzer's and Macie's EventBridge
examples), with this suite's account and ids."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from moto_server import MotoServer

from socbot.bot.cli import main
from socbot.collectors.cloudtrail_sqs import collect_sqs
from socbot.collectors.findings import normalize, read_path, severity_of
from socbot.collectors.pipeline import collect_cloudtrail
from socbot.core.alerts import AlertStore
from socbot.core.config import Settings
from socbot.core.events import loads
from socbot.core.streams import EVENTS
from socbot.detections.engine import Engine
from socbot.detections.rule import load_all

ACCOUNT = "111122223333"


def guardduty(kind: str = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration"
              ".OutsideAWS", severity: float = 8, updated: str = "2026-11-23T03:00:00.000Z",
              finding_id: str = "16afba5c5c43e07c9e3e5e2e544e95df") -> dict[str, Any]:
    """A GuardDuty finding in its EventBridge event, as the GuardDuty guide shows it."""
    return {"version": "0", "id": "c8c4daa7-a20c-2f03-0070-b7393dd542ad",
            "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "account": ACCOUNT, "time": updated, "region": "us-east-1", "resources": [],
            "detail": {
                "schemaVersion": "2.0", "accountId": ACCOUNT, "region": "us-east-1",
                "partition": "aws", "id": finding_id, "type": kind, "severity": severity,
                "arn": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/d1/finding/{finding_id}",
                "resource": {"resourceType": "AccessKey", "accessKeyDetails": {
                    "accessKeyId": "ASIASZEXAMPLE0000001", "userName": "app-instance-role",
                    "principalId": "AROAEXAMPLE:i-0123456789abcdef0",
                    "userType": "AssumedRole"}},
                "service": {"serviceName": "guardduty", "detectorId": "d1", "archived": False,
                            "count": 1, "action": {
                                "actionType": "AWS_API_CALL", "awsApiCallAction": {
                                    "api": "GetObject", "serviceName": "s3.amazonaws.com",
                                    "remoteIpDetails": {"ipAddressV4": "198.51.100.1"}}}},
                "createdAt": "2026-11-23T02:50:00.000Z", "updatedAt": updated,
                "title": "Credentials for instance role app-instance-role used from an "
                         "external IP address.", "description": "sample"}}


def ec2_finding() -> dict[str, Any]:
    envelope = guardduty("Backdoor:EC2/C&CActivity.B!DNS", 8, finding_id="ec2finding")
    envelope["detail"]["resource"] = {"resourceType": "Instance", "instanceDetails": {
        "instanceId": "i-0123456789abcdef0", "networkInterfaces": [{
            "vpcId": "vpc-0123456789abcdef0",
            "securityGroups": [{"groupId": "sg-0123456789abcdef0"}]}]}}
    return envelope


def asff(label: str = "HIGH", workflow: str = "NEW") -> dict[str, Any]:
    return {"SchemaVersion": "2018-10-08", "Id": "arn:aws:securityhub:us-east-1:"
            f"{ACCOUNT}:subscription/cis-aws-foundations-benchmark/v/1.2.0/1.4/finding/a1",
            "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
            "GeneratorId": "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/"
                           "v/1.2.0/rule/1.4",
            "AwsAccountId": ACCOUNT, "Region": "us-east-1",
            "Types": ["Software and Configuration Checks/Industry and Regulatory Standards/"
                      "CIS AWS Foundations Benchmark"],
            "CreatedAt": "2026-11-23T02:00:00.000Z", "UpdatedAt": "2026-11-23T03:00:00.000Z",
            "Severity": {"Label": label, "Original": label},
            "Title": "1.4 Ensure access keys are rotated every 90 days or less",
            "Resources": [{"Type": "AwsIamAccessKey", "Region": "us-east-1",
                           "Id": "AWS::IAM::AccessKey:AKIAIOSFODNN7EXAMPLE",
                           "Details": {"AwsIamAccessKey": {
                               "PrincipalName": "alice", "AccessKeyId":
                               "AKIAIOSFODNN7EXAMPLE", "Status": "Active"}}}],
            "Compliance": {"Status": "FAILED"}, "Workflow": {"Status": workflow},
            "RecordState": "ACTIVE"}


def test_guardduty_finding_names_its_key_address_and_severity() -> None:
    event = normalize(guardduty())
    assert (event["event.dataset"], event["event.action"]) == ("finding", "guardduty_finding")
    assert (event["access_key_id"], event["user.name"], event["source.ip"]) == (
        "ASIASZEXAMPLE0000001", "app-instance-role", "198.51.100.1")
    assert (event["finding.severity"], event["cloud.account.id"]) == ("high", ACCOUNT)
    assert "iam_user" not in event  # a role session has no IAM user to act on


@pytest.mark.parametrize(("kind", "finding", "expected"), [
    ("guardduty", {"severity": 9.0}, "critical"), ("guardduty", {"severity": 8.9}, "high"),
    ("guardduty", {"severity": 4.0}, "medium"), ("guardduty", {"severity": 3.9}, "low"),
    ("guardduty", {"severity": 0.5}, "info"),
    ("securityhub", {"Severity": {"Label": "INFORMATIONAL"}}, "info"),
    ("securityhub", {"Severity": {"Normalized": 70}}, "high"),
    ("securityhub", {"Severity": {"Normalized": 39}}, "low"),
    ("macie", {"severity": {"score": 3, "description": "High"}}, "high"),
    ("access_analyzer", {"isPublic": True}, "high"),
    ("access_analyzer", {"isPublic": False, "principal": {"AWS": "444455556666"}}, "medium"),
])
def test_severity_table(kind: str, finding: dict[str, Any], expected: str) -> None:
    assert severity_of(kind, finding)[0] == expected


def test_finding_types_map_to_playbooks(tmp_path: Path, redis_client: redis.Redis) -> None:
    path = tmp_path / "findings.json"
    path.write_text(json.dumps([guardduty(), ec2_finding(),
                                {"detail-type": "Security Hub Findings - Imported",
                                 "detail": {"findings": [asff()]}}]))
    engine = Engine(redis_client, load_all(), settings=Settings())
    signals = [s for e in read_path(path) for s in engine.evaluate(e)  # type: ignore[arg-type]
               if s.rule_id == "finding.aws_finding"]
    assert [s.playbooks for s in signals] == [
        ["disable-access-key"], ["quarantine-instance", "ssm-triage"], ["disable-access-key"]]
    assert signals[1].context["instance_id"] == "i-0123456789abcdef0"
    assert signals[2].context["iam_user"] == "alice"


def test_a_finding_is_one_alert_and_its_update_raises_it_again(
        tmp_path: Path, redis_client: redis.Redis) -> None:
    first, later = guardduty(), guardduty(updated="2026-11-23T04:00:00.000Z")
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in (first, copy.deepcopy(first), later)))
    stats = collect_cloudtrail(redis_client, path, source="findings")
    assert (stats.sent, stats.duplicates) == (2, 1)  # same id and updatedAt: once
    events = [loads(f[b"e"]) for _i, f in redis_client.xrange(EVENTS)]
    engine, store = Engine(redis_client, load_all(), settings=Settings()), AlertStore(
        redis_client)
    ids = {store.record(s)[0] for e in events for s in engine.evaluate(e)
           if s.rule_id == "finding.aws_finding"}
    [alert_id] = ids
    alert = store.get(alert_id)
    assert alert is not None and alert.count == 2 and alert.severity == "high"


def test_archived_suppressed_or_resolved_findings_raise_nothing(
        tmp_path: Path, redis_client: redis.Redis) -> None:
    archived = guardduty()
    archived["detail"]["service"]["archived"] = True
    path = tmp_path / "quiet.json"
    path.write_text(json.dumps([archived, {"detail-type": "Security Hub Findings - Imported",
                                           "detail": {"findings": [asff(workflow="RESOLVED")]}}]))
    events = list(read_path(path))
    assert [e["finding.active"] for e in events] == [False, False]  # type: ignore[index]
    engine = Engine(redis_client, load_all(), settings=Settings())
    assert not [s for e in events for s in engine.evaluate(e)  # type: ignore[arg-type]
                if s.rule_id == "finding.aws_finding"]


def test_something_that_is_no_finding_is_set_aside_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"Findings": [{"hello": "world"}]}))
    [bad] = list(read_path(path))
    assert "not a GuardDuty, Security Hub" in str(bad)


def test_collect_findings_from_sqs_next_to_cloudtrail_events(
        aws: MotoServer, redis_client: redis.Redis) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="findings")["QueueUrl"]
    for body in (guardduty(), guardduty(), ec2_finding()):  # at least once: one twice
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    stats = collect_sqs(redis_client, sqs, boto3.client("s3"), url, threading.Event(),
                        once=True, visibility_s=30)
    events = [loads(f[b"e"]) for _i, f in redis_client.xrange(EVENTS)]
    assert sorted(e["finding.type"] for e in events) == [
        "Backdoor:EC2/C&CActivity.B!DNS",
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"]
    assert (stats.sent, stats.duplicates, stats.deleted) == (2, 1, 3)


def test_replay_findings_prints_the_alerts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "f.json"
    path.write_text(json.dumps([guardduty(), ec2_finding()]))
    assert main(["replay", "--source", "findings", str(path)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    alerts = [o for o in out if o["type"] == "alert" and o["rule_id"] == "finding.aws_finding"]
    assert sorted((a["entity"]["type"], a["severity"]) for a in alerts) == [
        ("access_key", "high"), ("instance", "high")]
