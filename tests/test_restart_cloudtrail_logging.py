"""restart-cloudtrail-logging against moto's server."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto_server import ACCOUNT, REGION, MotoServer
from playbook_env import context, mutating, playbook, recorded_calls, session

from socbot.playbooks.base import PlaybookFailed, PlaybookInputError

DATA_AND_WRITES = [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
                    "DataResources": [{"Type": "AWS::S3::Object",
                                       "Values": ["arn:aws:s3:::payroll/"]}]}]


@pytest.fixture
def trail(aws: MotoServer) -> Any:
    """A logging trail whose event selectors are empty; return the CloudTrail client.

    moto gives a new trail no selectors (AWS gives it all management events) and ignores
    PutEventSelectors with an empty list, so a new trail is how an emptied one is made here.
    """
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="org-trail-logs",
                     CreateBucketConfiguration={"LocationConstraint": REGION})
    client = boto3.client("cloudtrail", region_name=REGION)
    client.create_trail(Name="management", S3BucketName="org-trail-logs")
    client.start_logging(Name="management")
    return client


def state(client: Any) -> tuple[bool, list[dict[str, Any]]]:
    """Whether the trail logs, and its event selectors."""
    return (client.get_trail_status(Name="management")["IsLogging"],
            client.get_event_selectors(TrailName="management")["EventSelectors"])


def test_a_stopped_trail_logs_again(trail: Any) -> None:
    trail.put_event_selectors(TrailName="management", EventSelectors=[
        {"ReadWriteType": "All", "IncludeManagementEvents": True}])
    trail.stop_logging(Name="management")
    pb = playbook("restart-cloudtrail-logging")
    result = pb.run(session(), pb.target(context(trail_name="management")))
    assert result.changed and state(trail)[0] is True
    assert result.before["IsLogging"] is False and result.after["IsLogging"] is True
    assert "logging started" in result.summary


def test_emptied_selectors_get_the_safe_default(trail: Any) -> None:
    trail.stop_logging(Name="management")
    pb = playbook("restart-cloudtrail-logging")
    result = pb.run(session(), pb.target(context(trail_name="management")))
    logging, selectors = state(trail)
    assert logging and selectors == [{"ReadWriteType": "All", "IncludeManagementEvents": True,
                                      "DataResources": []}]
    assert result.undo["previous"]["EventSelectors"] == []
    assert "safe default" in result.summary


def test_selectors_switched_off_get_the_configured_snapshot(trail: Any) -> None:
    trail.put_event_selectors(TrailName="management", EventSelectors=[
        {"ReadWriteType": "All", "IncludeManagementEvents": False}])
    pb = playbook("restart-cloudtrail-logging",
                  playbooks={"trail_event_selectors": {"management": DATA_AND_WRITES}})
    arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/management"
    result = pb.run(session(), pb.target(context(trail_name=arn)))
    assert state(trail)[1] == DATA_AND_WRITES and "configured snapshot" in result.summary


def test_second_run_changes_nothing(trail: Any) -> None:
    trail.stop_logging(Name="management")
    pb = playbook("restart-cloudtrail-logging")
    target = pb.target(context(trail_name="management"))
    pb.run(session(), target)
    with recorded_calls(s := session()) as calls:
        second = pb.run(s, target)
    assert not second.changed and mutating(calls) == []


def test_dry_run_makes_no_mutating_call(trail: Any) -> None:
    trail.stop_logging(Name="management")
    pb = playbook("restart-cloudtrail-logging")
    with recorded_calls(s := session()) as calls:
        result = pb.run(s, pb.target(context(trail_name="management")), dry_run=True)
    assert result.dry_run and mutating(calls) == [] and state(trail) == (False, [])


def test_an_unknown_trail_and_a_bad_name_fail_clearly(trail: Any) -> None:
    pb = playbook("restart-cloudtrail-logging")
    with pytest.raises(PlaybookFailed, match="does not exist"):
        pb.run(session(), pb.target(context(trail_name="other-trail")))
    with pytest.raises(PlaybookInputError, match="trail_name"):
        pb.target(context(trail_name="x; aws cloudtrail delete-trail"))


def test_a_trail_of_another_account_is_refused(trail: Any) -> None:
    pb = playbook("restart-cloudtrail-logging")
    arn = f"arn:aws:cloudtrail:{REGION}:111122223333:trail/management"
    with pytest.raises(PlaybookFailed):
        pb.run(session(), pb.target(context(trail_name=arn)))
