"""The CloudTrail rule pack on real recordings: every Stratus Red Team technique the index
calls detectable raises its alert, and the invictus-ir attack simulation is found."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import redis

from socbot.collectors.cloudtrail import normalize, read_path
from socbot.core.config import Settings
from socbot.core.events import Event
from socbot.detections.engine import Engine
from socbot.detections.rule import load_all

# Technique -> the alert(s) it must raise. The index's "detection" text says what to look for;
# the technique whose only advice is GuardDuty (stolen instance credentials) shows its SSM
# SendCommand, and the stolen keys used from the address the operator's IAM user works from.
EXPECTED = {
    "aws.credential-access.ec2-get-password-data": {"cloudtrail.ec2_password_data"},
    "aws.credential-access.ec2-steal-instance-credentials": {
        "cloudtrail.ssm_command_or_session", "cloudtrail.instance_credentials_elsewhere"},
    "aws.credential-access.secretsmanager-batch-retrieve-secrets": {
        "cloudtrail.bulk_secret_retrieval"},
    "aws.credential-access.secretsmanager-retrieve-secrets": {"cloudtrail.bulk_secret_retrieval"},
    "aws.credential-access.ssm-retrieve-securestring-parameters": {
        "cloudtrail.bulk_secret_retrieval"},
    "aws.defense-evasion.cloudtrail-delete": {"cloudtrail.trail_changed"},
    "aws.defense-evasion.cloudtrail-event-selectors": {"cloudtrail.trail_changed"},
    "aws.defense-evasion.cloudtrail-stop": {"cloudtrail.trail_changed"},
    "aws.defense-evasion.dns-delete-logs": {"cloudtrail.flow_logs_deleted"},
    "aws.defense-evasion.organizations-leave": {"cloudtrail.leave_organization"},
    "aws.defense-evasion.vpc-remove-flow-logs": {"cloudtrail.flow_logs_deleted"},
    "aws.discovery.ec2-download-user-data": {"cloudtrail.instance_user_data"},
    "aws.execution.ec2-launch-unusual-instances": {"cloudtrail.unusual_instance_launch"},
    "aws.execution.ec2-user-data": {"cloudtrail.instance_user_data"},
    "aws.execution.ssm-send-command": {"cloudtrail.ssm_command_or_session"},
    "aws.execution.ssm-start-session": {"cloudtrail.ssm_command_or_session"},
    "aws.exfiltration.ec2-security-group-open-port-22-ingress": {"cloudtrail.sg_open_to_world"},
    "aws.exfiltration.ec2-share-ami": {"cloudtrail.resource_shared"},
    "aws.exfiltration.ec2-share-ebs-snapshot": {"cloudtrail.resource_shared"},
    "aws.exfiltration.rds-share-snapshot": {"cloudtrail.resource_shared"},
    "aws.initial-access.console-login-without-mfa": {"cloudtrail.console_login_without_mfa"},
    "aws.lateral-movement.ec2-instance-connect": {"cloudtrail.instance_ssh_key_pushed"},
    "aws.lateral-movement.ec2-serial-console-send-ssh-public-key": {
        "cloudtrail.instance_ssh_key_pushed"},
    "aws.persistence.iam-backdoor-role": {"cloudtrail.role_trust_external"},
    "aws.persistence.iam-backdoor-user": {"cloudtrail.credentials_for_other_user"},
    "aws.persistence.iam-create-admin-user": {
        "cloudtrail.admin_policy_attached", "cloudtrail.iam_user_created",
        "cloudtrail.credentials_for_other_user"},
    "aws.persistence.iam-create-backdoor-role": {
        "cloudtrail.admin_policy_attached", "cloudtrail.role_trust_external"},
    "aws.persistence.iam-create-user-login-profile": {"cloudtrail.credentials_for_other_user"},
    "aws.persistence.lambda-backdoor-function": {"cloudtrail.lambda_backdoor"},
    "aws.persistence.lambda-layer-extension": {"cloudtrail.lambda_backdoor"},
    "aws.persistence.lambda-overwrite-code": {"cloudtrail.lambda_backdoor"},
    "aws.persistence.rolesanywhere-create-trust-anchor": {"cloudtrail.persistence_credentials"},
    "aws.persistence.sts-federation-token": {"cloudtrail.persistence_credentials"},
    "aws.privilege-escalation.iam-update-user-login-profile": {
        "cloudtrail.credentials_for_other_user"},
}


def _index(shared_data: Path) -> list[dict]:
    path = shared_data / "cloudtrail" / "stratus-red-team" / "stratus_detonation_index.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _fired(client: redis.Redis, events: list[Event]) -> Counter[str]:
    engine = Engine(client, load_all(), settings=Settings())
    events = sorted(events, key=lambda e: e["@timestamp"])
    return Counter(s.rule_id for signals in engine.evaluate_batch(events) for s in signals)


def test_every_detectable_technique_has_an_expected_alert(shared_data: Path) -> None:
    detectable = {t["technique_id"] for t in _index(shared_data) if t.get("detection")}
    assert detectable == set(EXPECTED)
    assert all(rule in load_all() for rules in EXPECTED.values() for rule in rules)


@pytest.mark.parametrize("technique", sorted(EXPECTED))
def test_stratus_technique_raises_its_alert(technique: str, shared_data: Path,
                                            redis_client: redis.Redis) -> None:
    log = shared_data / "cloudtrail" / "stratus-red-team" / "detonation-logs" / f"{technique}.json"
    fired = _fired(redis_client, [normalize(r) for r in json.loads(log.read_text())])
    missing = EXPECTED[technique] - set(fired)
    assert not missing, f"{technique}: {sorted(missing)} did not fire (fired: {dict(fired)})"


def test_user_data_changed_after_a_stop_is_high(shared_data: Path,
                                                redis_client: redis.Redis) -> None:
    log = (shared_data / "cloudtrail" / "stratus-red-team" / "detonation-logs"
           / "aws.execution.ec2-user-data.json")
    engine = Engine(redis_client, load_all(), settings=Settings())
    events = sorted((normalize(r) for r in json.loads(log.read_text())),
                    key=lambda e: e["@timestamp"])
    signals = [s for sigs in engine.evaluate_batch(events) for s in sigs
               if s.rule_id == "cloudtrail.instance_user_data"]
    assert [s.severity for s in signals] == ["high"]
    assert signals[0].context["instance_id"].startswith("i-")


def test_the_invictus_attack_simulation_is_found(shared_data: Path,
                                                 redis_client: redis.Redis) -> None:
    folder = shared_data / "cloudtrail" / "invictus-ir-aws-dataset" / "CloudTrail"
    events = [e for e in read_path(folder) if isinstance(e, dict)]
    assert len(events) == 2900
    fired = _fired(redis_client, events)
    for rule_id in ("cloudtrail.trail_changed", "cloudtrail.sg_open_to_world",
                    "cloudtrail.credentials_for_other_user", "cloudtrail.admin_policy_attached",
                    "cloudtrail.leave_organization", "cloudtrail.resource_shared",
                    "cloudtrail.bulk_secret_retrieval", "cloudtrail.flow_logs_deleted",
                    "cloudtrail.ssm_command_or_session", "cloudtrail.ec2_password_data",
                    "cloudtrail.console_login_without_mfa", "cloudtrail.rds_backups_deleted",
                    "correlation.entity_risk"):
        assert fired[rule_id], f"{rule_id} did not fire on the invictus-ir recording"
