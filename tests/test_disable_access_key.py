"""disable-access-key and disable-console-login against moto's server."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto_server import MotoServer
from playbook_env import context, mutating, playbook, recorded_calls, session

from socbot.playbooks.base import PlaybookFailed


@pytest.fixture
def iam(aws: MotoServer) -> Any:
    """An IAM client on moto."""
    return boto3.client("iam")


def user_with_key(iam: Any, user: str = "alice") -> str:
    """An IAM user with one active access key and a console password; return the key id."""
    iam.create_user(UserName=user)
    iam.create_login_profile(UserName=user, Password="Correct-horse-9!")
    return str(iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"])


def status(iam: Any, user: str, key: str) -> str:
    """The key's status."""
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    return str(next(k["Status"] for k in keys if k["AccessKeyId"] == key))


def test_the_key_is_deactivated_not_deleted_and_older_sessions_denied(iam: Any) -> None:
    key = user_with_key(iam)
    pb = playbook("disable-access-key")
    result = pb.run(session(), pb.target(context(access_key_id=key, iam_user="alice")))
    assert result.changed and status(iam, "alice", key) == "Inactive"
    policy = iam.get_user_policy(UserName="alice", PolicyName=f"socbot-revoke-sessions-{key}")
    statement = policy["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*"
    issued = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert issued == result.after["issued_before"] and issued.endswith("Z")
    assert result.undo["previous_status"] == "Active"


def test_the_user_is_found_from_the_key_when_the_alert_has_none(iam: Any) -> None:
    key = user_with_key(iam, "bob")
    pb = playbook("disable-access-key")
    result = pb.run(session(), pb.target(context(access_key_id=key)))
    assert result.before["UserName"] == "bob" and status(iam, "bob", key) == "Inactive"


def test_a_key_of_another_user_than_the_alert_names_is_refused(iam: Any) -> None:
    key = user_with_key(iam, "bob")
    iam.create_user(UserName="alice")
    pb = playbook("disable-access-key")
    with pytest.raises(PlaybookFailed, match="belongs to bob, not to alice"):
        pb.run(session(), pb.target(context(access_key_id=key, iam_user="alice")))
    assert status(iam, "bob", key) == "Active"


def test_second_run_changes_nothing_and_undo_reactivates(iam: Any) -> None:
    key = user_with_key(iam)
    pb = playbook("disable-access-key")
    target = pb.target(context(access_key_id=key, iam_user="alice"))
    result = pb.run(session(), target)
    with recorded_calls(s := session()) as calls:
        second = pb.run(s, target)
    assert not second.changed and mutating(calls) == []
    undone = pb.undo(session(), target, result.undo)
    assert undone.changed and status(iam, "alice", key) == "Active"
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == []


def test_undo_acts_on_the_alerts_key_not_on_ids_in_the_undo_data(iam: Any) -> None:
    key = user_with_key(iam)
    other = user_with_key(iam, "bob")
    iam.update_access_key(UserName="bob", AccessKeyId=other, Status="Inactive")
    pb = playbook("disable-access-key")
    target = pb.target(context(access_key_id=key, iam_user="alice"))
    result = pb.run(session(), target)
    edited = result.undo | {"UserName": "bob", "AccessKeyId": other}
    assert pb.undo(session(), target, edited).changed
    assert status(iam, "alice", key) == "Active" and status(iam, "bob", other) == "Inactive"


def test_a_temporary_key_is_refused(aws: MotoServer) -> None:
    pb = playbook("disable-access-key")
    with pytest.raises(PlaybookFailed, match="temporary"):
        pb.run(session(), pb.target(context(access_key_id="ASIAIOSFODNN7EXAMPLE")))


def test_dry_run_makes_no_mutating_call(iam: Any) -> None:
    key = user_with_key(iam)
    pb = playbook("disable-access-key")
    with recorded_calls(s := session()) as calls:
        result = pb.run(s, pb.target(context(access_key_id=key)), dry_run=True)
    assert result.dry_run and "set it Inactive" in result.summary and mutating(calls) == []
    assert status(iam, "alice", key) == "Active"
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == []


def test_console_login_is_removed_recording_that_it_existed(iam: Any) -> None:
    user_with_key(iam)
    pb = playbook("disable-console-login")
    target = pb.target(context(iam_user="alice"))
    with recorded_calls(s := session()) as calls:
        dry = pb.run(s, target, dry_run=True)
    assert dry.dry_run and mutating(calls) == []
    iam.get_login_profile(UserName="alice")  # still there after the dry run
    result = pb.run(session(), target)
    assert result.changed and result.undo["existed"] is True and result.undo["CreateDate"]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName="alice")
    second = pb.run(session(), target)
    assert not second.changed and second.before == {"UserName": "alice", "login_profile": False}


def test_console_login_of_an_unknown_user_fails_clearly(aws: MotoServer) -> None:
    pb = playbook("disable-console-login")
    with pytest.raises(PlaybookFailed, match="NoSuchEntity"):
        pb.run(session(), pb.target(context(iam_user="nobody")))


def test_the_deny_policy_document_is_aws_revoke_older_sessions() -> None:
    from socbot.playbooks.disable_access_key import deny_before

    document = json.loads(deny_before("2024-05-01T10:00:00Z"))
    assert document["Statement"][0]["Condition"] == {
        "DateLessThan": {"aws:TokenIssueTime": "2024-05-01T10:00:00Z"}}
