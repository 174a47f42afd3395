"""``socbot parse --source door``: webhook bodies saved as JSON, and export files.

A ``.json`` file holds one payload, a JSON array of payloads, or JSON Lines of payloads, of
any of the vendors (told apart by shape); a ``.csv`` file, or a ``.jsonl`` / ``.ndjson`` file
whose lines are not vendor payloads, is an export read through the configured column map.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from socbot.collectors.base import BadRecord, admitted, capped, files_under
from socbot.collectors.door.adapters import detect, to_event
from socbot.collectors.door.export import read_export
from socbot.core import edge
from socbot.core.config import DoorExport, Settings
from socbot.core.events import Event

__all__ = ["read_path"]


def _payloads(text: str) -> Iterator[Any]:
    """Each payload, or the raw text of one that is not JSON (or too deep to read)."""
    try:
        document = edge.loads(text)
    except edge.EdgeError:
        items = edge.array_items(text)
        lines = items if items is not None else text.splitlines()
    except json.JSONDecodeError:
        lines = text.splitlines()
    else:
        yield from document if isinstance(document, list) else [document]
        return
    for line in lines:
        if line.strip():
            try:
                yield edge.loads(line)
            except (json.JSONDecodeError, edge.EdgeError):
                yield line


def read_file(path: Path, export: DoorExport | None = None) -> Iterator[Event | BadRecord]:
    """Events and bad records of one file."""
    export = export or DoorExport()
    if path.suffix.lower() == ".csv":
        yield from read_export(path, export)
        return
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        yield BadRecord(str(path), None, f"unreadable file: {exc}", "")
        return
    payloads = list(_payloads(text))
    if path.suffix.lower() in (".jsonl", ".ndjson") and payloads and not any(
            detect(p) for p in payloads):
        yield from read_export(path, export)
        return
    for index, payload in enumerate(payloads):
        if isinstance(payload, str):
            yield BadRecord(str(path), index, "not JSON, or nested too deep to read",
                            capped(payload))
        else:
            yield admitted(partial(to_event, payload), str(path), index, payload)


def read_path(path: Path, settings: Settings | None = None) -> Iterator[Event | BadRecord]:
    """Like :func:`read_file` for a file or a directory (recursive, sorted)."""
    export = (settings or Settings()).collectors.door.export
    for file in files_under(path):
        yield from read_file(file, export)
