"""``socbot collect wifi``: scan on a schedule (or read files) and send the sightings.

Scans run the tool as an argument list, never through a shell, with a timeout::

    iw dev IFACE scan
    nmcli --terse --escape yes --fields BSSID,SSID,SSID-HEX,... device wifi list --rescan yes

(``iw ... scan`` needs CAP_NET_ADMIN; ``iw dev IFACE scan dump`` would list the kernel's cached
results without it, but may be stale.) A failed scan is logged and tried again next time.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from socbot.collectors.base import admitted_items
from socbot.collectors.pipeline import CollectStats, add_stats, send_items
from socbot.collectors.sink import EventSink
from socbot.collectors.spool import Spool
from socbot.collectors.wifi.files import read_path, sensor_of
from socbot.collectors.wifi.parsers import NMCLI_FIELDS, Sensor, parse_iw, parse_nmcli
from socbot.core.config import Settings

log = logging.getLogger(__name__)

__all__ = ["run_wifi", "scan_command", "scan_once"]

SCAN_TIMEOUT_S = 60


def scan_command(tool: str, interface: str) -> list[str]:
    """The argument list of one scan (the interface is validated by the configuration)."""
    if tool == "iw":
        return ["iw", "dev", interface, "scan"]
    return ["nmcli", "--terse", "--escape", "yes", "--fields", ",".join(NMCLI_FIELDS),
            "device", "wifi", "list", "--rescan", "yes"]


def scan_once(tool: str, interface: str, sensor: Sensor) -> list[Any]:
    """Run one scan and parse its output; [] (logged) if the tool failed."""
    command = scan_command(tool, interface)
    try:
        done = subprocess.run(command, capture_output=True, timeout=SCAN_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        log.warning("%s timed out after %d s", " ".join(command), SCAN_TIMEOUT_S)
        return []
    if done.returncode != 0:
        log.warning("%s failed (%d): %s", " ".join(command), done.returncode,
                    done.stderr.decode("utf-8", "replace").strip()[:500])
        return []
    now = datetime.now(UTC)
    text = done.stdout.decode("utf-8", "surrogateescape")
    parse = parse_iw if tool == "iw" else parse_nmcli
    return list(admitted_items(parse(text, sensor, now), " ".join(command)))


def run_wifi(args: argparse.Namespace, settings: Settings, client: redis.Redis, spool: Spool,
             stop: threading.Event) -> int:
    """The ``socbot collect wifi`` command."""
    config = settings.collectors.wifi
    sink = EventSink(client, "wifi", spool)
    stats = CollectStats()
    try:
        if args.path:
            for path in args.path:
                items = read_path(Path(path), settings, args.format)
                add_stats(stats, send_items(sink, "wifi", items, stop))
        else:
            tool = args.tool or config.tool
            interface = args.interface or config.interface
            if shutil.which(tool) is None:
                print(f"socbot collect wifi: {tool} is not installed (or not on PATH); "
                      "install it, or use --tool, or read files with --path", file=sys.stderr)
                return 2
            sensor = sensor_of(settings)
            interval = args.interval or config.interval_s
            while not stop.is_set():
                add_stats(stats, send_items(sink, "wifi", scan_once(tool, interface, sensor),
                                            stop))
                if args.once or stop.wait(interval):
                    break
    finally:
        sink.close()
    print(f"socbot collect wifi: {json.dumps(vars(stats))}", file=sys.stderr)
    return 0
