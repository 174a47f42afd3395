"""Door-access exports (CSV or JSON Lines) to events, through a configurable column map.

For systems that export rather than call out (Lenel OnGuard, Kisi's event export, ...). The
map names, for each field of ours, the export's column (``collectors.door.export.columns``)::

    collectors:
      door:
        export:
          columns: {"@timestamp": TimeStamp, door.name: Device, door.badge_id: CardNumber,
                    user.name: CardholderName, door.result: SubType, door.reason: EventText}
          granted: [granted, access granted]
          time_format: "%m/%d/%Y %H:%M:%S"     # empty: ISO 8601 or epoch seconds
          timezone: America/New_York           # of times without a zone

A row is ``door_forced_open`` / ``door_held_open`` when its ``event.kind`` column (or, when
that is not mapped, its ``door.result`` column) holds one of the ``forced_open`` /
``held_open`` values; otherwise ``door_access``, granted when the result is one of
``granted`` (compared case-blind), denied otherwise.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from socbot.collectors.base import BadRecord, admitted, capped
from socbot.collectors.door.adapters import PayloadError, door_event
from socbot.core import edge
from socbot.core.config import DoorExport
from socbot.core.events import Event, format_timestamp, parse_timestamp

__all__ = ["read_export", "row_to_event"]

MAX_FIELD = 4096  # characters of one cell kept (a cell is attacker-influenced text)


def _time(value: str, config: DoorExport) -> str:
    zone = ZoneInfo(config.timezone)
    text = value.strip()
    try:
        if config.time_format:
            moment = datetime.strptime(text, config.time_format)
        elif text.replace(".", "", 1).isdigit():
            return format_timestamp(datetime.fromtimestamp(float(text), zone))
        else:
            moment = parse_timestamp(text) if text.endswith("Z") or "+" in text[10:] else \
                datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError) as exc:
        raise PayloadError(f"time {value!r} is not readable: {exc}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return format_timestamp(moment)
    except ValueError as exc:
        raise PayloadError(f"time {value!r} is not readable: {exc}") from None


def row_to_event(row: dict[str, Any], config: DoorExport, site: str | None = None) -> Event:
    """One export row (column -> value) to an event; :class:`PayloadError` if it cannot be."""
    values: dict[str, str] = {}
    for field, column in config.columns.items():
        value = row.get(column)
        if value is not None and str(value).strip() != "":
            values[field] = str(value).strip()[:MAX_FIELD]
    if "@timestamp" not in values:
        raise PayloadError(f"no time in column {config.columns['@timestamp']!r}")
    kind_text = (values.get("event.kind") or values.get("door.result") or "").lower()
    if kind_text in (v.lower() for v in config.forced_open):
        kind = "door_forced_open"
    elif kind_text in (v.lower() for v in config.held_open):
        kind = "door_held_open"
    elif "door.result" in values:
        granted = values["door.result"].lower() in (v.lower() for v in config.granted)
        kind = "granted" if granted else "denied"
    else:
        raise PayloadError("no result: map door.result (or event.kind) to a column")
    fields: dict[str, Any] = {k: v for k, v in values.items()
                              if k not in ("@timestamp", "door.result", "event.kind")}
    if "door.reason" not in fields and "door.result" in values:
        fields["door.reason"] = values["door.result"]
    fields.setdefault("door.site", site)
    return door_event(vendor="export", kind=kind, timestamp=_time(values["@timestamp"], config),
                      event_id=None, original=row, fields=fields)


def _rows(path: Path) -> Iterator[tuple[dict[str, Any] | None, str]]:
    """(row, raw) per record; (None, raw) for a JSON Lines line that is not an object."""
    text = path.read_bytes().decode("utf-8-sig", "replace")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                row = edge.loads(line)
            except (json.JSONDecodeError, edge.EdgeError):
                row = None
            yield (row if isinstance(row, dict) else None), line
        return
    rows = csv.DictReader(io.StringIO(text, newline=""))
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:  # a cell over the csv module's size limit, a NUL byte
            yield None, f"not a CSV row: {exc}"
            continue
        yield row, ",".join(str(v) for v in row.values())


def read_export(path: Path, config: DoorExport, site: str | None = None
                ) -> Iterator[Event | BadRecord]:
    """Events and bad records of one export file (``.csv``, or ``.jsonl`` / ``.ndjson``)."""
    for index, (row, raw) in enumerate(_rows(path)):
        if row is None:
            error = raw if raw.startswith("not a CSV row") else "not a JSON object"
            yield BadRecord(str(path), index, error, capped(raw))
            continue
        yield admitted(partial(row_to_event, row, config, site), str(path), index,
                       raw)
