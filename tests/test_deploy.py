"""deploy/aws: the generated remediation role matches the registry; the templates lint clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from socbot.playbooks.policy import (
    POLICY_FILE,
    ROLE_TEMPLATE_FILE,
    actions,
    policy_document,
    render_policy,
    render_role_template,
)
from socbot.playbooks.registry import all_playbooks

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "aws"
REGENERATE = "run `python -m socbot.playbooks.policy --write deploy/aws` and commit the result"


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !Sub, !GetAtt as plain values."""


_CloudFormationLoader.add_multi_constructor(
    "!", lambda loader, tag, node: {tag: loader.construct_scalar(node)}
    if isinstance(node, yaml.ScalarNode) else {tag: loader.construct_sequence(node)})


def load(name: str) -> dict[str, Any]:
    """A template of deploy/aws."""
    loaded: dict[str, Any] = yaml.load((DEPLOY / name).read_text(), _CloudFormationLoader)
    return loaded


def test_the_committed_policy_is_the_one_the_registry_generates() -> None:
    assert (DEPLOY / POLICY_FILE).read_text() == render_policy(), REGENERATE


def test_the_committed_role_template_is_the_one_the_registry_generates() -> None:
    assert (DEPLOY / ROLE_TEMPLATE_FILE).read_text() == render_role_template(), REGENERATE


def test_the_policy_grants_every_declared_permission_and_no_wildcard() -> None:
    document = policy_document()
    declared = sorted({p for cls in all_playbooks() for p in cls.permissions})
    assert actions(document) == declared
    assert all("*" not in a and "?" not in a for a in actions(document))
    assert all(s["Effect"] == "Allow" for s in document["Statement"])
    # Inline role policies share 10,240 characters (whitespace not counted).
    assert len(json.dumps(document, separators=(",", ":"))) < 10240


def test_ssm_send_command_is_limited_to_the_triage_document() -> None:
    limited = [s for s in policy_document()["Statement"] if "ssm:SendCommand" in s["Action"]]
    assert len(limited) == 1 and limited[0]["Action"] == ["ssm:SendCommand"]
    assert any(r.endswith(":document/socbot-triage") for r in limited[0]["Resource"])
    assert not any("AWS-RunShellScript" in r for r in limited[0]["Resource"])


def test_the_role_trusts_one_principal_only_with_the_external_id() -> None:
    role = load(ROLE_TEMPLATE_FILE)["Resources"]["RemediationRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"AWS": {"Ref": "TrustedPrincipalArn"}}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}


def test_the_queue_accepts_messages_only_from_the_rule() -> None:
    template = load("cloudtrail-events.yml")
    resources = template["Resources"]
    pattern = resources["ManagementEventsRule"]["Properties"]["EventPattern"]
    assert "AWS API Call via CloudTrail" in pattern["detail-type"]
    send = next(s for s in resources["EventsQueuePolicy"]["Properties"]["PolicyDocument"]
                ["Statement"] if s["Action"] == "sqs:SendMessage")
    assert send["Principal"] == {"Service": "events.amazonaws.com"}
    assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": [
        {"GetAtt": "ManagementEventsRule.Arn"}, {"GetAtt": "FindingsRule.Arn"}]}}
    findings = resources["FindingsRule"]["Properties"]["EventPattern"]
    assert "GuardDuty Finding" in findings["detail-type"]


def lint(path: Path) -> list[str]:
    """cfn-lint's findings (errors, warnings and informational) for a template."""
    from cfnlint.api import lint_file

    return [str(match) for match in lint_file(path)]


@pytest.mark.parametrize("name", [ROLE_TEMPLATE_FILE, "cloudtrail-events.yml"])
def test_cfn_lint_passes(name: str) -> None:
    assert lint(DEPLOY / name) == []


def test_cfn_lint_does_find_mistakes(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
                      "    Properties:\n      VisibilityTimeout: forever\n")
    assert lint(broken) != []
