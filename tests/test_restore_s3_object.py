"""restore-s3-object against moto's server."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto_server import REGION, MotoServer
from playbook_env import context, mutating, playbook, recorded_calls, session

from socbot.playbooks.base import PlaybookFailed

KEY = "reports/2024 Q1.csv"


@pytest.fixture
def s3(aws: MotoServer) -> Any:
    """A versioned bucket "evidence"; return the S3 client."""
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket="evidence",
                         CreateBucketConfiguration={"LocationConstraint": REGION})
    client.put_bucket_versioning(Bucket="evidence",
                                 VersioningConfiguration={"Status": "Enabled"})
    return client


def body(s3: Any) -> bytes:
    """The current content of the key."""
    return bytes(s3.get_object(Bucket="evidence", Key=KEY)["Body"].read())


def versions(s3: Any) -> tuple[list[str], list[str]]:
    """Version ids and delete-marker ids of the key."""
    page = s3.list_object_versions(Bucket="evidence", Prefix=KEY)
    return ([v["VersionId"] for v in page.get("Versions", [])],
            [m["VersionId"] for m in page.get("DeleteMarkers", [])])


def test_a_deleted_object_is_restored_by_removing_the_delete_marker(s3: Any) -> None:
    s3.put_object(Bucket="evidence", Key=KEY, Body=b"v1")
    s3.put_object(Bucket="evidence", Key=KEY, Body=b"v2")
    s3.delete_object(Bucket="evidence", Key=KEY)
    s3.put_object(Bucket="evidence", Key=KEY + ".bak", Body=b"other")  # same prefix, other key
    pb = playbook("restore-s3-object")
    target = pb.target(context(bucket="evidence", object_key=KEY))
    result = pb.run(session(), target)
    assert result.changed and body(s3) == b"v2" and versions(s3)[1] == []
    assert len(result.undo["removed_delete_markers"]) == 1
    with recorded_calls(s := session()) as calls:
        second = pb.run(s, target)
    assert not second.changed and "is not deleted" in second.summary and mutating(calls) == []
    pb.undo(session(), target, result.undo)
    with pytest.raises(s3.exceptions.NoSuchKey):
        body(s3)


def test_a_named_version_is_copied_back_once(s3: Any) -> None:
    first = s3.put_object(Bucket="evidence", Key=KEY, Body=b"good")["VersionId"]
    s3.put_object(Bucket="evidence", Key=KEY, Body=b"ransomed")
    pb = playbook("restore-s3-object")
    target = pb.target(context(bucket="evidence", object_key=KEY, version_id=first))
    result = pb.run(session(), target)
    assert result.changed and body(s3) == b"good"
    assert not pb.run(session(), target).changed
    assert len(versions(s3)[0]) == 3
    pb.undo(session(), target, result.undo)
    assert body(s3) == b"ransomed"


def test_undo_acts_on_the_alerts_object_not_on_ids_in_the_undo_data(s3: Any) -> None:
    s3.put_object(Bucket="evidence", Key="other.txt", Body=b"keep")
    s3.put_object(Bucket="evidence", Key=KEY, Body=b"v1")
    s3.delete_object(Bucket="evidence", Key=KEY)
    pb = playbook("restore-s3-object")
    target = pb.target(context(bucket="evidence", object_key=KEY))
    result = pb.run(session(), target)
    pb.undo(session(), target, result.undo | {"Key": "other.txt"})
    assert s3.get_object(Bucket="evidence", Key="other.txt")["Body"].read() == b"keep"
    with pytest.raises(s3.exceptions.NoSuchKey):
        body(s3)


def test_dry_run_makes_no_mutating_call(s3: Any) -> None:
    s3.put_object(Bucket="evidence", Key=KEY, Body=b"v1")
    s3.delete_object(Bucket="evidence", Key=KEY)
    before = versions(s3)
    pb = playbook("restore-s3-object")
    with recorded_calls(s := session()) as calls:
        result = pb.run(s, pb.target(context(bucket="evidence", object_key=KEY)), dry_run=True)
    assert result.dry_run and "remove 1 delete marker(s)" in result.summary
    assert mutating(calls) == [] and versions(s3) == before


def test_an_unversioned_bucket_and_a_missing_key_fail_clearly(s3: Any) -> None:
    s3.create_bucket(Bucket="plain", CreateBucketConfiguration={"LocationConstraint": REGION})
    pb = playbook("restore-s3-object")
    with pytest.raises(PlaybookFailed, match="never had versioning"):
        pb.run(session(), pb.target(context(bucket="plain", object_key=KEY)))
    with pytest.raises(PlaybookFailed, match="no version to restore"):
        pb.run(session(), pb.target(context(bucket="evidence", object_key="absent")))
