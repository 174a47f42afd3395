"""Threat-intelligence feeds of known-bad addresses, read into Redis for the detect stage.

A feed (``detection.intel_feeds``) is a file or an https URL in one of three formats:

=======  ============================================================================
list     one address or range a line; ``#`` starts a comment; other text on a line
         (a port, a label) after the address is ignored
stix     a STIX 2 bundle (a TAXII collection export): indicators whose pattern compares
         ``ipv4-addr:value`` or ``ipv6-addr:value``, and ``ipv4-addr``/``ipv6-addr`` objects
misp     a MISP CSV export: the ``value`` column of rows whose ``type`` is ``ip-src``,
         ``ip-dst``, ``ip-src|port`` or ``ip-dst|port``
=======  ============================================================================

:func:`refresh` reads every feed and replaces ``{soc}:intel:addresses`` at once (address or range
-> feed name); a feed that cannot be read keeps its previous entries and is reported. Detect
workers reload the addresses when ``{soc}:intel:version`` moves. Example::

    report = refresh(client, settings.detection.intel_feeds)
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from socbot.core import keys
from socbot.core.config import DetectionIntelFeed

log = logging.getLogger(__name__)
MAX_FEED_BYTES = 64 << 20
_STIX_ANY = re.compile(r"'([0-9A-Fa-f:.]+(?:/\d{1,3})?)'")
MISP_TYPES = ("ip-src", "ip-dst", "ip-src|port", "ip-dst|port")


class FeedError(ValueError):
    """A feed could not be read; the message names the feed and what to fix."""


def _address(text: str) -> str | None:
    """The normalized address or range in ``text``, or None."""
    text = text.strip()
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            return str(net.network_address) if net.num_addresses == 1 else str(net)
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def parse_list(text: str) -> Iterator[str]:
    """Addresses of a plain list."""
    for line in text.splitlines():
        words = line.split("#", 1)[0].replace(",", " ").replace(";", " ").split()
        found = _address(words[0]) if words else None
        if found:
            yield found


def parse_stix(text: str) -> Iterator[str]:
    """Addresses of a STIX 2 bundle (or a list of its objects)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedError(f"not STIX JSON: {exc.msg}") from None
    objects = document.get("objects", []) if isinstance(document, dict) else document
    for item in objects if isinstance(objects, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("type") in ("ipv4-addr", "ipv6-addr"):
            found = _address(str(item.get("value", "")))
            if found:
                yield found
        elif item.get("type") == "indicator":
            pattern = str(item.get("pattern", ""))
            if "-addr:value" not in pattern:
                continue
            for value in dict.fromkeys(_STIX_ANY.findall(pattern)):
                found = _address(value)
                if found:
                    yield found


def parse_misp(text: str) -> Iterator[str]:
    """Addresses of a MISP CSV export."""
    rows = csv.DictReader(io.StringIO(text))
    if rows.fieldnames is None or not {"type", "value"} <= set(rows.fieldnames):
        raise FeedError("not a MISP CSV export: it needs the columns type and value")
    for row in rows:
        if row.get("type") in MISP_TYPES:
            found = _address(str(row.get("value", "")).split("|", 1)[0])
            if found:
                yield found


PARSERS: dict[str, Callable[[str], Iterable[str]]] = {
    "list": parse_list, "stix": parse_stix, "misp": parse_misp}


def fetch(feed: DetectionIntelFeed) -> str:
    """A feed's text, from its file or its https URL (bounded, with a timeout)."""
    try:
        if feed.path:
            data = Path(feed.path).read_bytes()[:MAX_FEED_BYTES + 1]
        else:
            request = urllib.request.Request(feed.url, headers={"User-Agent": "socbot-intel"})
            with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 (https only)
                data = reply.read(MAX_FEED_BYTES + 1)
    except OSError as exc:
        raise FeedError(f"feed {feed.name}: cannot read {feed.path or feed.url}: {exc}") from exc
    if len(data) > MAX_FEED_BYTES:
        raise FeedError(f"feed {feed.name}: larger than {MAX_FEED_BYTES >> 20} MiB")
    return data.decode("utf-8", "replace")


@dataclass
class RefreshReport:
    """What one refresh read: entries per feed, and the feeds that failed (kept as they were)."""

    entries: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def refresh(client: redis.Redis, feeds: Iterable[DetectionIntelFeed],
            read: Callable[[DetectionIntelFeed], str] = fetch) -> RefreshReport:
    """Read every feed and replace the address table in one step; bump the version."""
    report = RefreshReport()
    # dict[Any, Any]: redis-py types a mapping's keys invariantly as its encodable types.
    table: dict[Any, Any] = {}
    previous = {_text(k): _text(v) for k, v in client.hgetall(keys.INTEL_ADDRESSES).items()}
    # a feed that fails keeps what it listed before
    for feed in feeds:
        try:
            addresses = list(PARSERS[feed.format](read(feed)))
        except FeedError as exc:
            report.failed[feed.name] = str(exc)
            table.update({a: f for a, f in previous.items() if f == feed.name})
            continue
        report.entries[feed.name] = len(addresses)
        table.update({address: feed.name for address in addresses})
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.INTEL_ADDRESSES)
    if table:
        pipe.hset(keys.INTEL_ADDRESSES, mapping=table)
    for name, count in report.entries.items():
        pipe.hset(keys.INTEL_FEEDS, name, f"{int(time.time())} {count}")
    pipe.incr(keys.INTEL_VERSION)
    pipe.execute()
    return report


def run(client: redis.Redis, feeds: list[DetectionIntelFeed], every_s: float,
        stop: threading.Event) -> None:
    """Refresh every ``every_s`` seconds until ``stop`` is set (``socbot run``'s intel thread):
    a refresh that fails (Redis away) is logged and tried again at the next turn."""
    while not stop.is_set():
        try:
            report = refresh(client, feeds)
            log.info("threat intelligence refreshed: %s", report)
            for name, error in report.failed.items():
                log.warning("threat-intelligence feed %s not refreshed: %s", name, error)
        except redis.RedisError as exc:
            log.warning("threat intelligence not refreshed (Redis): %s", exc)
        stop.wait(every_s)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

