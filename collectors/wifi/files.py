"""``socbot parse --source wifi`` and ``socbot collect wifi --path``: scanner output files.

The format is told from the content unless given: an airodump-ng CSV has its
``BSSID, First time seen`` header, Kismet alert JSON starts with ``[`` or ``{``, ``iw`` output
has ``BSS xx:xx:...`` lines, and anything else is read as ``nmcli -t`` output with our scan's
fields (:data:`~collectors.wifi.parsers.NMCLI_FIELDS`). iw and nmcli files carry no time:
their sightings are stamped with the file's modification time. A directory is read for the
files with one of :data:`SUFFIXES` (so a LICENSE beside the captures is not read as a scan).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from socbot.collectors.base import BadRecord, admitted_items, files_under
from socbot.collectors.wifi.parsers import (
    Sensor,
    parse_airodump,
    parse_iw,
    parse_kismet,
    parse_nmcli,
)
from socbot.core.config import Settings
from socbot.core.events import Event

__all__ = ["detect_format", "read_file", "read_path", "sensor_of"]

FORMATS = ("iw", "nmcli", "airodump", "kismet")
SUFFIXES = (".csv", ".json", ".jsonl", ".txt", ".log", ".iw", ".nmcli")  # read in directories
_IW = re.compile(rb"^BSS [0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}", re.MULTILINE)


def sensor_of(settings: Settings | None) -> Sensor:
    """This sensor's name (default: the host name) and site, from the configuration."""
    config = (settings or Settings()).collectors.wifi
    return Sensor(config.sensor or socket.gethostname(), config.site)


def detect_format(data: bytes) -> str:
    """iw, nmcli, airodump or kismet, from a file's content."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf\r\n ")
    if b"BSSID, First time seen" in data[:4096]:
        return "airodump"
    if head[:1] in (b"[", b"{"):
        return "kismet"
    if _IW.search(data[:65536]):
        return "iw"
    return "nmcli"


def read_file(path: Path, sensor: Sensor, fmt: str = "auto"
              ) -> Iterator[Event | BadRecord | None]:
    """Events of one file in format ``fmt`` (``auto``: detected), each passed through
    :func:`core.edge.admit`; what cannot be read is a :class:`BadRecord`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield BadRecord(str(path), None, f"unreadable file: {type(exc).__name__}: {exc}", "")
        return
    yield from admitted_items(_parse(path, data, sensor, fmt), str(path))


def _parse(path: Path, data: bytes, sensor: Sensor, fmt: str
           ) -> Iterator[Event | BadRecord | None]:
    fmt = detect_format(data) if fmt == "auto" else fmt
    name = str(path)
    if fmt == "airodump":
        yield from parse_airodump(data, sensor, name)
    elif fmt == "kismet":
        yield from parse_kismet(data.decode("utf-8", "replace"), sensor, name)
    else:
        seen = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        text = data.decode("utf-8", "surrogateescape")
        parse = parse_iw if fmt == "iw" else parse_nmcli
        yield from parse(text, sensor, seen)


def read_path(path: Path, settings: Settings | None = None, fmt: str = "auto"
              ) -> Iterator[Event | BadRecord | None]:
    """Like :func:`read_file` for a file or a directory (recursive, sorted)."""
    sensor = sensor_of(settings)
    for file in files_under(path, lambda p: p.suffix.lower() in SUFFIXES):
        yield from read_file(file, sensor, fmt)
