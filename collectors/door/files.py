"""``socbot parse --source door``: webhook bodies saved as JSON, and export files.

A ``.json`` file holds one payload, a JSON array of payloads, or JSON Lines of payloads, of
any of the vendors (told apart by shape); a ``.csv`` file, or a ``.jsonl`` / ``.ndjson`` file
whose lines are not vendor payloads, is an export read through the configured column map.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from socbot.collectors.base import BadRecord, capped
from socbot.collectors.door.adapters import PayloadError, detect, to_event
from socbot.collectors.door.export import read_export
from socbot.core.config import DoorExport, Settings
from socbot.core.events import Event

__all__ = ["read_path"]


def _payloads(text: str) -> Iterator[Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        for line in text.splitlines():
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    yield line
        return
    yield from document if isinstance(document, list) else [document]


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
        try:
            yield to_event(payload)
        except PayloadError as exc:
            yield BadRecord(str(path), index, f"PayloadError: {exc}", capped(payload))


def read_path(path: Path, settings: Settings | None = None) -> Iterator[Event | BadRecord]:
    """Like :func:`read_file` for a file or a directory (recursive, sorted)."""
    export = (settings or Settings()).collectors.door.export
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        yield from read_file(file, export)
