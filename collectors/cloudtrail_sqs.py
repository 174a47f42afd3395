"""CloudTrail delivered through SQS: S3 notifications (raw or in SNS), CloudTrail's own SNS
notification, and EventBridge events.

Message bodies understood (each may also arrive inside an SNS envelope,
``{"Type": "Notification", "Message": "<json>"}``, unless raw message delivery is on)::

    S3 event notification      {"Records": [{"eventSource": "aws:s3", "s3": {"bucket":
                                {"name": B}, "object": {"key": K}}}]}   (K is URL-encoded)
    CloudTrail SNS notification {"s3Bucket": B, "s3ObjectKey": [K, ...]}
    EventBridge                 {"detail-type": "AWS API Call via CloudTrail", "detail": {...},
                                 "account": A, "region": R}
    EventBridge finding         {"detail-type": "GuardDuty Finding" (or Security Hub, Access
                                 Analyzer, Macie), "detail": {...}}   (see collectors.findings)
    S3 test event               {"Event": "s3:TestEvent", ...}       (nothing to read)

Delivery: a message is deleted only after every event it announces is in Redis (the dedup
script's MULTI of a batch returned). If reading an object or Redis fails, the message is left
alone and SQS offers it again after its visibility timeout (and, with a redrive policy, moves
it to the queue's own dead-letter queue after ``maxReceiveCount`` tries). SQS delivers at
least once and CloudTrail may deliver a file twice: events are deduplicated by ``eventID``
over ``dedup_ttl`` seconds. A body that is none of the above can never succeed: it is put on
``{soc}:dead`` and deleted. Digest files (``CloudTrail-Digest/``) hold no events and are skipped.

Organization trails (``AWSLogs/o-xxxx/<account>/CloudTrail/<region>/...``) need nothing
special: each record carries its own account and region.

Example::

    stats = collect_sqs(redis, boto3.client("sqs"), boto3.client("s3"), queue_url, stop)
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import redis

from socbot.collectors.base import BadRecord, admitted, capped
from socbot.collectors.cloudtrail import (
    from_eventbridge,
    is_eventbridge,
    normalize,
    read_bytes,
)
from socbot.collectors.findings import events_of as finding_events
from socbot.collectors.findings import is_finding_envelope
from socbot.collectors.pipeline import (
    EVENTS_MAXLEN,
    CollectStats,
    add_stats,
    send_cloudtrail,
)
from socbot.core import edge
from socbot.core.events import Event
from socbot.core.redisconn import UNAVAILABLE

log = logging.getLogger(__name__)

__all__ = ["SqsStats", "collect_sqs", "objects_of", "poll_once"]


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BAD_KEY = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


class BodyError(ValueError):
    """An SQS message body that announces no CloudTrail data this collector knows."""


@dataclass
class SqsStats(CollectStats):
    """CollectStats plus what happened to messages."""

    messages: int = 0
    deleted: int = 0
    retried: int = 0
    objects: int = 0
    errors: list[str] = field(default_factory=list)


def _unwrap_sns(body: Any) -> Any:
    if isinstance(body, dict) and body.get("Type") == "Notification" and "Message" in body:
        message = body["Message"]
        try:
            return edge.loads(message) if isinstance(message, str) else message
        except (json.JSONDecodeError, edge.EdgeError):
            raise BodyError("SNS message is not JSON, or nested too deep") from None
    return body


def _checked(bucket: str, key: str) -> tuple[str, str]:
    """A bucket and key S3 could have: no control characters or lone surrogates (which no
    request can carry, so the message could only ever fail), at most 1024 bytes of key."""
    if not _BUCKET.fullmatch(bucket):
        raise BodyError(f"{bucket[:80]!r} is not an S3 bucket name")
    if not key or len(key.encode("utf-8", "surrogatepass")) > 1024 or _BAD_KEY.search(key):
        raise BodyError(f"{key[:80]!r} is not an S3 object key")
    return bucket, key


def objects_of(body: Any) -> list[tuple[str, str]] | None:
    """(bucket, key) pairs a message announces; None if it is an EventBridge event instead.

    Raises :class:`BodyError` for a body of no known kind.
    """
    body = _unwrap_sns(body)
    if is_eventbridge(body):
        return None
    if isinstance(body, dict) and body.get("Event") == "s3:TestEvent":
        return []
    if isinstance(body, dict) and "s3ObjectKey" in body:
        keys = body["s3ObjectKey"]
        keys = [keys] if isinstance(keys, str) else keys
        bucket = body.get("s3Bucket")
        if not isinstance(bucket, str) or not isinstance(keys, list) or not all(
                isinstance(k, str) for k in keys):
            raise BodyError("CloudTrail notification without s3Bucket and s3ObjectKey list")
        return [_checked(bucket, k) for k in keys]
    if isinstance(body, dict) and isinstance(body.get("Records"), list):
        found = []
        for record in body["Records"]:
            s3: Any = record.get("s3") if isinstance(record, dict) else None
            try:
                bucket, key = s3["bucket"]["name"], s3["object"]["key"]
            except (TypeError, KeyError):
                raise BodyError("S3 notification record without s3.bucket.name and "
                                "s3.object.key") from None
            if not isinstance(bucket, str) or not isinstance(key, str):
                raise BodyError("S3 notification with a bucket name or key that is not text")
            if str(record.get("eventName", "ObjectCreated")).startswith("ObjectCreated"):
                found.append(_checked(bucket, urllib.parse.unquote_plus(key)))
        return found
    raise BodyError("not an S3 notification, a CloudTrail SNS notification or an "
                    "EventBridge CloudTrail event")


def _events_of_message(body_text: str, s3: Any, stats: SqsStats
                       ) -> list[Event | BadRecord]:
    """Every event (and bad record) a message stands for; raises to leave it on the queue."""
    try:
        body = edge.loads(body_text)
    except edge.EdgeError as exc:
        raise BodyError(str(exc)) from None
    if is_finding_envelope(_unwrap_sns(body)):
        return list(finding_events(_unwrap_sns(body), "eventbridge"))
    objects = objects_of(body)
    if objects is None:
        inner = _unwrap_sns(body)
        return [admitted(lambda: normalize(from_eventbridge(inner)), "eventbridge", 0, inner)]
    items: list[Event | BadRecord] = []
    for bucket, key in objects:
        if "/CloudTrail-Digest/" in f"/{key}":
            continue
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        stats.objects += 1
        items.extend(read_bytes(data, f"s3://{bucket}/{key}"))
    return items


def poll_once(client: redis.Redis, sqs: Any, s3: Any, queue_url: str, *, wait_s: int = 20,
              visibility_s: int = 300, dedup_ttl: int = 86400,
              maxlen: int = EVENTS_MAXLEN) -> SqsStats:
    """Receive up to 10 messages, send their events, delete the ones fully sent."""
    stats = SqsStats()
    reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                WaitTimeSeconds=wait_s, VisibilityTimeout=visibility_s)
    messages = reply.get("Messages", [])
    stats.messages = len(messages)
    done: list[dict[str, str]] = []
    items: list[Event | BadRecord] = []
    dead: list[dict[str, str]] = []  # messages that can never be read
    for message in messages:
        handle = {"Id": message["MessageId"], "ReceiptHandle": message["ReceiptHandle"]}
        try:
            items.extend(_events_of_message(message["Body"], s3, stats))
        except (json.JSONDecodeError, BodyError) as exc:
            # Can never succeed: dead-lettered with the batch's records, then deleted.
            log.error("SQS message %s cannot be read, dead-lettered: %s",
                      message["MessageId"], exc)
            dead.append(BadRecord(queue_url, None, f"{type(exc).__name__}: {exc}",
                                  capped(message["Body"])).dead_letter("cloudtrail-sqs")
                        | {"index": message["MessageId"]})
            done.append(handle)
            continue
        except Exception as exc:  # S3 unreachable, object gone, access denied: retry later
            stats.retried += 1
            stats.errors.append(f"{type(exc).__name__}: {exc}")
            log.warning("SQS message %s left for retry: %s", message["MessageId"], exc)
            continue
        done.append(handle)
    # Redis first; only then may SQS forget the messages.
    found = [i for i in items if isinstance(i, dict) and i.get("event.dataset") == "finding"]
    trail = [i for i in items if not (isinstance(i, dict) and i.get("event.dataset") == "finding")]
    add_stats(stats, send_cloudtrail(client, trail, dedup_ttl=dedup_ttl, maxlen=maxlen,
                                      dead=dead))
    if found:
        add_stats(stats, send_cloudtrail(client, list(found), dedup_ttl=dedup_ttl,
                                         maxlen=maxlen, source="findings"))
    for start in range(0, len(done), 10):
        batch = done[start:start + 10]
        result = sqs.delete_message_batch(QueueUrl=queue_url, Entries=batch)
        stats.deleted += len(result.get("Successful", []))
    return stats


def collect_sqs(client: redis.Redis, sqs: Any, s3: Any, queue_url: str,
                stop: threading.Event, *, once: bool = False, wait_s: int = 20,
                visibility_s: int = 300, dedup_ttl: int = 86400) -> SqsStats:
    """Poll ``queue_url`` until ``stop`` is set (or, with ``once``, until it is empty)."""
    total = SqsStats()
    while not stop.is_set():
        try:
            stats = poll_once(client, sqs, s3, queue_url, wait_s=0 if once else wait_s,
                              visibility_s=visibility_s, dedup_ttl=dedup_ttl)
        except UNAVAILABLE as exc:
            # Nothing was deleted: the messages come back after their visibility timeout.
            log.warning("redis unavailable, SQS messages left on the queue: %s", exc)
            stop.wait(1.0)
            continue
        for name in ("messages", "deleted", "retried", "objects"):
            setattr(total, name, getattr(total, name) + getattr(stats, name))
        add_stats(total, CollectStats(stats.parsed, stats.ignored, stats.failed,
                                      stats.duplicates, stats.sent))
        total.errors += stats.errors
        if once and not stats.messages:
            break
    return total
