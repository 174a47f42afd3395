"""The normalized event every collector produces and every rule reads.

An event is a flat ``dict`` keyed by Elastic Common Schema (ECS) field names, so that it can be
shipped to Elasticsearch, OpenSearch or fluentd unchanged::

    {
        "@timestamp": "2026-11-23T03:12:09Z",
        "event.id": "3f2a...",             # stable: CloudTrail eventID, or a hash for log lines
        "event.dataset": "secure",         # cloudtrail | secure | door | wifi | finding
        "event.action": "ssh_login_failed",
        "event.outcome": "failure",        # success | failure | unknown
        "source.ip": "203.0.113.9",
        "user.name": "root",
        "host.name": "bastion",
        "message": "<the raw line>",
    }

Parsers never guess: a field they cannot read is absent. Structured sources keep the record
they came from under ``original`` (a dict), so rules can read any field of it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import orjson

Event = dict[str, Any]

DATASETS = ("cloudtrail", "secure", "door", "wifi", "finding")
OUTCOMES = ("success", "failure", "unknown")
REQUIRED_FIELDS = ("@timestamp", "event.id", "event.dataset", "event.action", "event.outcome")


class EventError(ValueError):
    """An event is missing a required field or holds a value of the wrong kind."""


def stable_id(*parts: object) -> str:
    """Return a short, stable id for an event built from the parts that identify it.

    >>> stable_id("bastion", "2049:1234", 8812) == stable_id("bastion", "2049:1234", 8812)
    True
    """
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=12)
    return digest.hexdigest()


def format_timestamp(moment: datetime) -> str:
    """Render a datetime as the UTC ISO 8601 string used in ``@timestamp``; ValueError for a
    time UTC cannot hold."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is past the largest datetime in UTC
        raise ValueError(f"{moment.isoformat()} is out of the range of times") from None
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> datetime:
    """Parse an ``@timestamp`` (or any ISO 8601 string) into an aware UTC datetime; ValueError
    for text that is not one, or a time UTC cannot hold (year 0 or 10,000 after the shift)."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is past the largest datetime in UTC
        raise ValueError(f"{value!r} is out of the range of times") from None


_EPOCHS: dict[str, float] = {}
_EPOCHS_MAX = 50_000


def epoch(event: Event) -> float:
    """Seconds since the epoch of an event's ``@timestamp``; remembered per timestamp text
    (the events of one second share it, and a storm has a thousand a second)."""
    text = event["@timestamp"]
    if type(text) is not str:
        return parse_timestamp(text).timestamp()  # raises as for any text that is not a time
    found = _EPOCHS.get(text)
    if found is None:
        found = parse_timestamp(text).timestamp()
        if len(_EPOCHS) >= _EPOCHS_MAX:
            _EPOCHS.clear()
        _EPOCHS[text] = found
    return found


def validate(event: Event) -> Event:
    """Check the fields every event must have; return the event or raise :class:`EventError`."""
    for name in REQUIRED_FIELDS:  # a loop, not a list: the detect stage checks every event
        if not event.get(name):
            missing = [name for name in REQUIRED_FIELDS if not event.get(name)]
            raise EventError(f"event is missing {', '.join(missing)}")
    if event["event.dataset"] not in DATASETS:
        raise EventError(f"event.dataset {event['event.dataset']!r} is not one of {DATASETS}")
    if event["event.outcome"] not in OUTCOMES:
        raise EventError(f"event.outcome {event['event.outcome']!r} is not one of {OUTCOMES}")
    if type(event["event.action"]) is not str:
        raise EventError(f"event.action must be text, not {event['event.action']!r:.80}")
    return event


# Unicode line breaks JSON may leave raw, but line-splitting readers break lines at.
LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028",
                              "\u2029": "\\u2029"})


def dumps(event: Event) -> str:
    """Serialize an event for a stream entry or a JSON Lines file: compact UTF-8 JSON with
    U+0085, U+2028 and U+2029 escaped, so one event is one line for every reader."""
    text = json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str)
    return text if text.isascii() else text.translate(LINE_BREAKS)


def loads(text: str | bytes) -> Event:
    """Inverse of :func:`dumps`. orjson reads it (several times faster, and the detect stage
    reads every event); what orjson refuses but :mod:`json` reads (NaN, numbers beyond 64
    bits, lone surrogates) is read by :mod:`json`, so the result never depends on the parser."""
    try:
        loaded = orjson.loads(text)
    except orjson.JSONDecodeError:
        loaded = json.loads(text)
    if not isinstance(loaded, dict):
        raise EventError("a serialized event must be a JSON object")
    return loaded
