"""``ssm-triage``: run a fixed, read-only set of commands on an instance through SSM."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import boto3
from botocore.exceptions import ClientError

from socbot.playbooks.base import (
    Plan,
    Playbook,
    PlaybookFailed,
    Result,
    Target,
    aws_call,
    error_code,
)
from socbot.playbooks.ec2util import describe_instance, facts_line, instance_facts
from socbot.playbooks.registry import register

# Fixed text: nothing from the alert ever reaches the instance's shell.
TRIAGE_COMMANDS: tuple[str, ...] = (
    "echo '== who'; who",
    "echo '== last'; last -n 25",
    "echo '== ss -tnp'; ss -tnp",
    "echo '== ps'; ps -eo pid,ppid,user,lstart,args --sort=start_time | tail -n 60",
)
# A document of socbot's own holding exactly these commands (deploy/aws/remediation-role.yml
# creates it), so the role may send only it: AWS-RunShellScript would let it run anything.
DOCUMENT = "socbot-triage"


def document_content() -> dict[str, Any]:
    """The SSM command document that runs :data:`TRIAGE_COMMANDS` and takes no parameters."""
    return {
        "schemaVersion": "2.2",
        "description": "socbot ssm-triage: read-only incident triage (who, last, ss, ps)",
        "mainSteps": [{"action": "aws:runShellScript", "name": "triage",
                       "inputs": {"runCommand": list(TRIAGE_COMMANDS), "timeoutSeconds": "60"}}],
    }

DONE = ("Success", "Cancelled", "TimedOut", "Failed", "Cancelling")
# Characters of output kept in the thread (the whole output is in the result's details).
THREAD_OUTPUT_CHARS = 1200


@register
class SsmTriage(Playbook):
    """Collect who is logged in, recent logins, TCP connections and processes over SSM.

    Sends the SSM document ``socbot-triage`` (a fixed command list: ``who``, ``last``,
    ``ss -tnp``, ``ps``; the role may send no other document) to the alert's instance, waits
    up to ``playbooks.ssm_wait_s`` for the result and puts the output in the alert's thread.
    Read-only: nothing on the instance or in AWS changes, so there is no undo and a second run
    only collects again. The instance must be running with the SSM agent and an instance
    profile allowing SSM.
    """

    name = "ssm-triage"
    description = "Run who, last, ss -tnp and ps on the instance via SSM; output to the thread"
    required_fields = ("instance_id", "cloud.region", "cloud.account.id")
    permissions = ("ec2:DescribeInstances", "ssm:SendCommand", "ssm:GetCommandInvocation")
    resources = {"ssm:SendCommand": (
        "arn:${AWS::Partition}:ssm:*:${AWS::AccountId}:document/" + DOCUMENT,
        "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*",
    )}
    approvals_required = 1
    read_only = True
    poll_s: ClassVar[float] = 2.0
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """Check the instance is running; the plan is the fixed command list."""
        facts = instance_facts(describe_instance(session.client("ec2"), target))
        if facts["state"] != "running":
            raise PlaybookFailed(f"{target['instance_id']} is {facts['state']}; SSM needs it "
                                 "running")
        return Plan([{"op": "send_command", "document": DOCUMENT,
                      "commands": list(TRIAGE_COMMANDS)}],
                    f"{target['instance_id']}: run {len(TRIAGE_COMMANDS)} read-only commands "
                    f"(who, last, ss -tnp, ps). {facts_line(facts)}", {"instance": facts},
                    {"instance": facts})

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Send the command, wait for it, return its output (changing nothing)."""
        ssm = session.client("ssm")
        instance_id = target["instance_id"]
        sent = aws_call(ssm.send_command, InstanceIds=[instance_id], DocumentName=DOCUMENT,
                        Comment="socbot ssm-triage (read-only)",
                        TimeoutSeconds=max(30, int(self.settings.playbooks.ssm_wait_s)))
        command_id = sent["Command"]["CommandId"]
        invocation = self._wait(ssm, command_id, instance_id)
        status = invocation.get("Status", "")
        output = str(invocation.get("StandardOutputContent", ""))
        errors = str(invocation.get("StandardErrorContent", ""))
        details: dict[str, Any] = {"command_id": command_id, "status": status,
                                   "stdout": output, "stderr": errors}
        if status != "Success":
            raise PlaybookFailed(f"{instance_id}: SSM command {command_id} ended {status}: "
                                 f"{errors[:300] or 'no error output'}", partial=Result(
                                     changed=False, summary=f"triage {status}",
                                     details=details))
        shown = output[:THREAD_OUTPUT_CHARS] or "(no output)"
        more = " [truncated; full output in the result]" if len(output) > len(shown) else ""
        return Result(changed=False, summary=f"{instance_id} triage (command {command_id}):\n"
                      f"{shown}{more}", before=plan.before, after=plan.before, details=details)

    def _wait(self, ssm: Any, command_id: str, instance_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.settings.playbooks.ssm_wait_s
        while True:
            try:
                invocation = aws_call(ssm.get_command_invocation, CommandId=command_id,
                                      InstanceId=instance_id)
            except ClientError as exc:  # InvocationDoesNotExist right after SendCommand
                if error_code(exc) != "InvocationDoesNotExist" or time.monotonic() > deadline:
                    raise
            else:
                if invocation.get("Status") in DONE:
                    return dict(invocation)
                if time.monotonic() > deadline:
                    raise PlaybookFailed(f"{instance_id}: SSM command {command_id} still "
                                         f"{invocation.get('Status')} after "
                                         f"{self.settings.playbooks.ssm_wait_s:g} s; read it "
                                         "later with GetCommandInvocation")
            self.sleep(self.poll_s)
