"""CloudTrail records to events: S3 delivery files, JSON arrays and JSON Lines.

:func:`normalize` turns one record into an event with ECS names::

    @timestamp  eventTime                     event.id        eventID
    event.action eventName                    event.provider  eventSource
    event.outcome "failure" if errorCode (or responseElements[eventName] == "Failure",
                  as failed ConsoleLogin and CheckMfa records have no errorCode), else "success"
    source.ip   sourceIPAddress if it is an IP; otherwise source.domain ("ec2.amazonaws.com")
                or only source.address ("AWS Internal")
    user.name   userIdentity.userName, else sessionContext.sessionIssuer.userName, else the
                last part of userIdentity.arn
    user.id     userIdentity.principalId      user_agent.original  userAgent
    cloud.account.id recipientAccountId, else userIdentity.accountId; cloud.region awsRegion
    error.code / error.message                aws.cloudtrail.user_identity.type
    message     "eventName by user from ip"   original  the record itself

Reading: :func:`read_path` and :func:`read_file` yield, in file order, an :class:`Event` (a
``dict``) for each good record and a :class:`BadRecord` for each record (or file) that could
not be read, so one bad record never stops a file and the caller can count and dead-letter
it; ``isinstance(item, dict)`` tells them apart. ``str(bad)`` is its error.

    for item in read_path("AWSLogs/"):
        if isinstance(item, BadRecord):
            dead_letter(item.dead_letter("cloudtrail"))
        else:
            send(item)
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from socbot.collectors.base import BadRecord, admitted, capped, files_under
from socbot.core import edge
from socbot.core.events import Event, format_timestamp, parse_timestamp

__all__ = ["BadRecord", "RecordError", "iter_records", "normalize", "read_bytes", "read_file",
           "read_path"]

# A DNS name whose last label has a letter: "253.252.51.07" (anonymised, not an IP) is no name.
_HOSTNAME = re.compile(r"(?=.{1,253}$)(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]*[A-Za-z][A-Za-z0-9-]*")


MAX_FILE_BYTES = 512 << 20  # CloudTrail delivers files of a few MB; decompressed bound
MAX_EVENT_ID = 256  # CloudTrail's are UUIDs; the id becomes part of a Redis key


class RecordError(ValueError):
    """A CloudTrail record lacks eventID, eventTime or eventName, or is not a record at all."""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _user_name(identity: dict[str, Any]) -> str | None:
    name = _text(identity.get("userName"))
    if name:
        return name
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, dict) else None
    name = _text(issuer.get("userName")) if isinstance(issuer, dict) else None
    if name:
        return name
    arn = _text(identity.get("arn"))
    if arn:
        # arn:aws:iam::123:user/alice -> alice; arn:aws:iam::123:root -> root
        return arn.rsplit("/", 1)[-1] if "/" in arn else arn.rsplit(":", 1)[-1]
    return None


def _is_failure(record: dict[str, Any], name: str) -> bool:
    if record.get("errorCode"):
        return True
    response = record.get("responseElements")
    return isinstance(response, dict) and response.get(name) == "Failure"


def normalize(record: dict[str, Any]) -> Event:
    """Turn one CloudTrail record into an event; raise :class:`RecordError` if it cannot."""
    if not isinstance(record, dict):
        raise RecordError(f"a CloudTrail record is a JSON object, not {type(record).__name__}")
    missing = [k for k in ("eventID", "eventTime", "eventName") if not _text(record.get(k))]
    if missing:
        raise RecordError(f"record has no {', '.join(missing)}")
    if len(record["eventID"]) > MAX_EVENT_ID:
        raise RecordError(f"eventID is over {MAX_EVENT_ID} characters")
    try:
        timestamp = format_timestamp(parse_timestamp(record["eventTime"]))
    except ValueError:
        raise RecordError(f"eventTime {record['eventTime']!r} is not a timestamp") from None
    name = record["eventName"]
    identity = record.get("userIdentity")
    identity = identity if isinstance(identity, dict) else {}
    event: Event = {
        "@timestamp": timestamp,
        "event.id": record["eventID"],
        "event.dataset": "cloudtrail",
        "event.action": name,
        "event.outcome": "failure" if _is_failure(record, name) else "success",
        "cloud.provider": "aws",
    }
    optional = {
        "event.provider": _text(record.get("eventSource")),
        "user.name": _user_name(identity),
        "user.id": _text(identity.get("principalId")),
        "user_agent.original": _text(record.get("userAgent")),
        "cloud.account.id": _text(record.get("recipientAccountId"))
        or _text(identity.get("accountId")),
        "cloud.region": _text(record.get("awsRegion")),
        "error.code": _text(record.get("errorCode")),
        "error.message": _text(record.get("errorMessage")),
        "aws.cloudtrail.user_identity.type": _text(identity.get("type")),
    }
    event.update({k: v for k, v in optional.items() if v is not None})
    source = _text(record.get("sourceIPAddress"))
    if source:
        event["source.address"] = source
        ip = edge.ip_text(source)
        if ip is not None:
            event["source.ip"] = ip
        elif _HOSTNAME.fullmatch(source):
            event["source.domain"] = source
    who = event.get("user.name") or event.get("user.id") or "unknown"
    event["message"] = f"{name} by {who} from {source or 'unknown'}"
    event["original"] = record
    return event


def from_eventbridge(document: dict[str, Any]) -> Any:
    """The CloudTrail record inside an EventBridge event (``detail-type`` "... via CloudTrail",
    e.g. "AWS API Call via CloudTrail"); the envelope's account and region fill gaps."""
    record = document.get("detail")
    if isinstance(record, dict):
        record = dict(record)
        if not record.get("recipientAccountId") and _text(document.get("account")):
            record["recipientAccountId"] = document["account"]
        if not record.get("awsRegion") and _text(document.get("region")):
            record["awsRegion"] = document["region"]
    return record


def is_eventbridge(document: Any) -> bool:
    """True for an EventBridge event that carries a CloudTrail record: its ``detail-type``
    ends "via CloudTrail", or (a custom bus or input transformer renamed it) its ``detail``
    has a CloudTrail record's ``eventName`` and ``eventSource``."""
    if not isinstance(document, dict) or "detail" not in document:
        return False
    if str(document.get("detail-type", "")).endswith("via CloudTrail"):
        return True
    detail = document["detail"]
    return ("detail-type" in document and isinstance(detail, dict)
            and bool(_text(detail.get("eventName"))) and bool(_text(detail.get("eventSource"))))


def iter_records(document: Any) -> Iterator[Any]:
    """The records of a parsed document: ``{"Records": [...]}``, a JSON array, an EventBridge
    event from CloudTrail, or one record."""
    if isinstance(document, dict) and isinstance(document.get("Records"), list):
        yield from document["Records"]
    elif isinstance(document, list):
        for item in document:
            yield from_eventbridge(item) if is_eventbridge(item) else item
    elif is_eventbridge(document):
        yield from_eventbridge(document)
    else:
        yield document


def _one(text: str) -> tuple[Any, str | None]:
    try:
        return edge.loads(text), None
    except json.JSONDecodeError as exc:
        return text, f"not JSON: {exc.msg}"
    except edge.EdgeError as exc:
        return text, f"EdgeError: {exc}"


def _documents(text: str) -> Iterator[tuple[Any, str | None]]:
    """(document, None) for each JSON document in the text, or (raw text, error)."""
    try:
        yield edge.loads(text), None
        return
    except json.JSONDecodeError:
        pass
    except edge.EdgeError:
        # One record too deep for the parser: read the array's records one by one instead.
        items = edge.array_items(text)
        if items is not None:
            for item in items:
                yield _one(item)
            return
    # Not one document: JSON Lines, one record (or Records document) per line.
    for line in text.splitlines():
        if line.strip():
            yield _one(line)


def read_file(path: str | Path) -> Iterator[Event | BadRecord]:
    """Events and bad records of one ``.json``/``.json.gz`` file (gzip is detected by content)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        yield BadRecord(str(path), None, f"unreadable file: {type(exc).__name__}: {exc}", "")
        return
    yield from read_bytes(data, str(path))


def read_bytes(data: bytes, name: str) -> Iterator[Event | BadRecord]:
    """Events and bad records of one delivery file's content (an S3 object, say)."""
    path = name
    try:
        if data[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unpacked:
                data = unpacked.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                yield BadRecord(path, None, f"file over {MAX_FILE_BYTES} bytes once "
                                "decompressed (a gzip bomb?); not read", "")
                return
        text = data.decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        yield BadRecord(path, None, f"unreadable file: {type(exc).__name__}: {exc}", "")
        return
    index = 0
    for document, error in _documents(text):
        if error is not None:
            yield BadRecord(str(path), index, error, capped(document))
            index += 1
            continue
        for record in iter_records(document):
            yield admitted(partial(normalize, record), path, index, record)
            index += 1


def read_path(path: str | Path) -> Iterator[Event | BadRecord]:
    """Like :func:`read_file`, for a file or a directory (recursive, sorted by path)."""
    for file in files_under(Path(path), lambda p: p.name.endswith((".json", ".json.gz"))):
        yield from read_file(file)
