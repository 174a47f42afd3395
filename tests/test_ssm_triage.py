"""ssm-triage against moto's server.

moto implements SendCommand and GetCommandInvocation: a command "succeeds" at once with empty
output, and nothing runs. So these tests check what is sent (socbot's own document, holding the
fixed read-only commands; the instance from the alert) and how the result is reported. Not
exercised against moto: real output, a command InProgress (a fake client covers the polling),
whether the instance is SSM-managed (DescribeInstanceInformation and ListCommandInvocations are
not implemented by moto) and the document's hash.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto_server import REGION, MotoServer
from playbook_env import context, instance, mutating, playbook, recorded_calls, session

from socbot.playbooks.base import PlaybookFailed
from socbot.playbooks.ssm_triage import DOCUMENT, TRIAGE_COMMANDS, document_content


@pytest.fixture
def ec2(aws: MotoServer) -> Any:
    """An EC2 client on moto, with the triage document deployed."""
    boto3.client("ssm", region_name=REGION).create_document(
        Name=DOCUMENT, Content=json.dumps(document_content()), DocumentType="Command",
        DocumentFormat="JSON")
    return boto3.client("ec2", region_name=REGION)


def test_the_fixed_commands_are_sent_and_the_result_reported(ec2: Any) -> None:
    made = instance(ec2)
    pb = playbook("ssm-triage")
    with recorded_calls(s := session()) as calls:
        result = pb.run(s, pb.target(context(instance_id=made["instance_id"])))
    assert [c for c in mutating(calls)] == ["SendCommand"]
    assert not result.changed and result.undo == {}
    assert result.details["status"] == "Success"
    commands = boto3.client("ssm", region_name=REGION).list_commands()["Commands"]
    assert len(commands) == 1
    assert commands[0]["DocumentName"] == "socbot-triage" and not commands[0]["Parameters"]
    assert commands[0]["InstanceIds"] == [made["instance_id"]]
    assert f"{made['instance_id']} triage" in result.summary


def test_the_command_set_is_read_only_and_is_the_document() -> None:
    assert document_content()["mainSteps"][0]["inputs"]["runCommand"] == list(TRIAGE_COMMANDS)
    words = {command.split(";")[-1].split()[0] for command in TRIAGE_COMMANDS}
    assert words == {"who", "last", "ss", "ps"}
    assert all(">" not in c.replace("2>", "") and "rm " not in c for c in TRIAGE_COMMANDS)


def test_dry_run_sends_nothing(ec2: Any) -> None:
    made = instance(ec2)
    pb = playbook("ssm-triage")
    with recorded_calls(s := session()) as calls:
        result = pb.run(s, pb.target(context(instance_id=made["instance_id"])), dry_run=True)
    assert result.dry_run and mutating(calls) == []
    assert boto3.client("ssm", region_name=REGION).list_commands()["Commands"] == []


def test_a_stopped_instance_is_refused(ec2: Any) -> None:
    made = instance(ec2)
    ec2.stop_instances(InstanceIds=[made["instance_id"]])
    pb = playbook("ssm-triage")
    with pytest.raises(PlaybookFailed, match="SSM needs it running"):
        pb.run(session(), pb.target(context(instance_id=made["instance_id"])))


class FakeSsm:
    """An SSM client whose command is not visible at first, then in progress, then failed."""

    def __init__(self) -> None:
        from botocore.exceptions import ClientError

        self.answers: list[Any] = [
            ClientError({"Error": {"Code": "InvocationDoesNotExist", "Message": "x"}},
                        "GetCommandInvocation"),
            {"Status": "InProgress"},
            {"Status": "Failed", "StandardErrorContent": "ss: not found"},
        ]

    def get_command_invocation(self, **_: Any) -> Any:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_waiting_goes_past_not_yet_visible_and_in_progress() -> None:
    pb = playbook("ssm-triage")
    waits: list[float] = []
    pb.sleep = waits.append  # type: ignore[method-assign]
    invocation = pb._wait(FakeSsm(), "cmd-1", "i-0123456789abcdef0")
    assert invocation["Status"] == "Failed" and len(waits) == 2
