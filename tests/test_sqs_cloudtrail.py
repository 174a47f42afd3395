"""CloudTrail over SQS against moto's S3 and SQS (server mode) and a real Redis."""

from __future__ import annotations

import gzip
import json
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from moto_server import MotoServer

from socbot.collectors.cloudtrail_sqs import collect_sqs, poll_once
from socbot.core.events import loads
from socbot.core.streams import DEAD_LETTERS, EVENTS

BUCKET = "org-trail-logs"
ORG = "o-a1b2c3d4e5"


@pytest.fixture
def invictus(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "cloudtrail/invictus-ir-aws-dataset/CloudTrail").glob("*.json"))


@pytest.fixture
def queue(aws: MotoServer) -> tuple[Any, Any, str]:
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    url = sqs.create_queue(QueueName="cloudtrail-delivery")["QueueUrl"]
    return sqs, s3, url


def put_delivery(s3: Any, records: list[dict], account: str, region: str, name: str) -> str:
    key = (f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/2023/07/10/"
           f"{account}_CloudTrail_{region}_20230710T1200Z_{name}.json.gz")
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(json.dumps({"Records": records})
                                                             .encode()))
    return key


def s3_notification(key: str) -> dict:
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
                         "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": BUCKET},
                                "object": {"key": urllib.parse.quote_plus(key, safe="/")}}}]}


def sns(message: dict) -> dict:
    return {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:eu-west-1:1:t",
            "Message": json.dumps(message)}


def event_ids(client: redis.Redis) -> list[str]:
    return [loads(f[b"e"])["event.id"] for _i, f in client.xrange(EVENTS)]


def drain(client: redis.Redis, sqs: Any, s3: Any, url: str):  # type: ignore[no-untyped-def]
    return collect_sqs(client, sqs, s3, url, threading.Event(), once=True, visibility_s=30)


def left_on_queue(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"])


def test_every_kind_of_notification_delivers_its_events(
        queue: tuple[Any, Any, str], invictus: list[Path], redis_client: redis.Redis) -> None:
    sqs, s3, url = queue
    files = [json.loads(p.read_text())["Records"] for p in invictus[:4]]
    keys = [put_delivery(s3, recs, "111122223333", "us-east-1", f"f{i}")
            for i, recs in enumerate(files)]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(s3_notification(keys[0])))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(sns(s3_notification(keys[1]))))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(
        sns({"s3Bucket": BUCKET, "s3ObjectKey": [keys[2], keys[3]]})))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}))
    stats = drain(redis_client, sqs, s3, url)
    expected = [r["eventID"] for recs in files for r in recs]
    assert sorted(event_ids(redis_client)) == sorted(expected)
    assert (stats.messages, stats.deleted, stats.objects, stats.sent) == (
        4, 4, 4, len(expected))
    assert left_on_queue(sqs, url) == 0


def test_eventbridge_events_and_their_redelivery(
        queue: tuple[Any, Any, str], invictus: list[Path], redis_client: redis.Redis) -> None:
    sqs, s3, url = queue
    record = json.loads(invictus[0].read_text())["Records"][0]
    detail = {k: v for k, v in record.items() if k not in ("recipientAccountId", "awsRegion")}
    envelope = {"version": "0", "id": "e1", "detail-type": "AWS API Call via CloudTrail",
                "source": "aws.iam", "account": "444455556666", "region": "ap-south-1",
                "time": record["eventTime"], "detail": detail}
    for _ in range(3):  # at-least-once: the same event three times
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(envelope))
    stats = drain(redis_client, sqs, s3, url)
    [event] = [loads(f[b"e"]) for _i, f in redis_client.xrange(EVENTS)]
    assert event["event.id"] == record["eventID"]
    assert (event["cloud.account.id"], event["cloud.region"]) == ("444455556666", "ap-south-1")
    assert (stats.sent, stats.duplicates, stats.deleted) == (1, 2, 3)


def test_the_same_file_announced_twice_is_sent_once(
        queue: tuple[Any, Any, str], invictus: list[Path], redis_client: redis.Redis) -> None:
    sqs, s3, url = queue
    records = json.loads(invictus[1].read_text())["Records"]
    key = put_delivery(s3, records, "111122223333", "eu-west-1", "dup")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(s3_notification(key)))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(
        {"s3Bucket": BUCKET, "s3ObjectKey": [key]}))
    stats = drain(redis_client, sqs, s3, url)
    assert len(event_ids(redis_client)) == len(records)
    assert stats.duplicates == len(records)


def test_organization_trail_keeps_each_accounts_and_regions_events_apart(
        queue: tuple[Any, Any, str], redis_client: redis.Redis) -> None:
    sqs, s3, url = queue
    accounts = ["111111111111", "222222222222", "333333333333"]
    regions = ["us-east-1", "eu-central-1"]
    for account in accounts:
        for region in regions:
            records = [{"eventID": f"{account}-{region}-{i}", "eventTime": "2023-07-10T12:00:00Z",
                        "eventName": "DescribeInstances", "awsRegion": region,
                        "recipientAccountId": account,
                        "userIdentity": {"type": "AssumedRole", "accountId": account}}
                       for i in range(5)]
            key = put_delivery(s3, records, account, region, "org")
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(sns(s3_notification(key))))
    drain(redis_client, sqs, s3, url)
    events = [loads(f[b"e"]) for _i, f in redis_client.xrange(EVENTS)]
    assert len(events) == 30
    for event in events:
        assert event["event.id"].startswith(
            f"{event['cloud.account.id']}-{event['cloud.region']}-")
    assert {(e["cloud.account.id"], e["cloud.region"]) for e in events} == {
        (a, r) for a in accounts for r in regions}


def test_missing_object_leaves_the_message_for_a_retry(
        queue: tuple[Any, Any, str], redis_client: redis.Redis) -> None:
    sqs, s3, url = queue
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(s3_notification("AWSLogs/gone.json.gz")))
    stats = poll_once(redis_client, sqs, s3, url, wait_s=0, visibility_s=30)
    assert (stats.retried, stats.deleted) == (1, 0)
    assert "NoSuchKey" in stats.errors[0]
    assert left_on_queue(sqs, url) == 1


def test_message_is_kept_while_redis_is_unreachable(
        queue: tuple[Any, Any, str], invictus: list[Path], redis_client: redis.Redis) -> None:
    sqs, s3, url = queue
    key = put_delivery(s3, json.loads(invictus[2].read_text())["Records"], "1", "us-east-1", "r")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(s3_notification(key)))
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    with pytest.raises(redis.ConnectionError):
        poll_once(down, sqs, s3, url, wait_s=0, visibility_s=0)
    assert left_on_queue(sqs, url) == 1
    stats = drain(redis_client, sqs, s3, url)       # Redis is back: delivered, then deleted
    assert stats.sent > 0 and left_on_queue(sqs, url) == 0


def test_unknown_body_is_dead_lettered_and_deleted(
        queue: tuple[Any, Any, str], redis_client: redis.Redis) -> None:
    sqs, s3, url = queue
    sqs.send_message(QueueUrl=url, MessageBody='{"hello": "world"}')
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    stats = drain(redis_client, sqs, s3, url)
    assert stats.deleted == 2 and left_on_queue(sqs, url) == 0
    dead = [f[b"source"] for _i, f in redis_client.xrange(DEAD_LETTERS)]
    assert dead == [b"cloudtrail-sqs", b"cloudtrail-sqs"]


def test_digest_files_are_skipped(queue: tuple[Any, Any, str], redis_client: redis.Redis) -> None:
    sqs, s3, url = queue
    key = f"AWSLogs/{ORG}/1/CloudTrail-Digest/us-east-1/2023/07/10/digest.json.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b'{"digestPublicKeyFingerprint":1}'))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(s3_notification(key)))
    stats = drain(redis_client, sqs, s3, url)
    assert (stats.deleted, stats.objects, stats.failed) == (1, 0, 0)
