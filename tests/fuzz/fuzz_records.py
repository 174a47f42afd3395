"""Coverage-guided fuzzing (atheris) of every parser and adapter, beyond Hypothesis's examples.

The first byte of an input picks the target (its value modulo 8) and a variant (the rest of
its low seven bits divided by 8), the rest is the target's input: 0 a CloudTrail delivery file,
1 a door webhook body (variant: detected, Kisi, Verkada, UniFi), 2 iw or nmcli output, 3 Kismet
alerts or an airodump-ng CSV, 4 a syslog line, 5 text for Slack, 6 AWS findings (GuardDuty,
Security Hub, ...), 7 a journal entry (journalctl -o json). With the first byte's high bit set,
undecodable bytes of the input become lone surrogates. A target may refuse an input only
with its own error type; any other exception, or an event that fails the checks of
tests/test_properties.py, is a crash that atheris reports with the input that caused it.

Run (new inputs go to the first folder; the seeds here are read, never written)::

    pip install atheris
    mkdir -p /tmp/socbot-corpus
    python tests/fuzz/fuzz_records.py -max_total_time=300 /tmp/socbot-corpus tests/fuzz/corpus

A crash leaves ``crash-<hash>`` in the working directory; ``python tests/fuzz/fuzz_records.py
crash-<hash>`` replays it.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import atheris

with atheris.instrument_imports():
    from socbot.bot.escape import escape, escape_truncate
    from socbot.collectors.base import BadRecord, encode_event
    from socbot.collectors.cloudtrail import read_bytes
    from socbot.collectors.door.adapters import PayloadError, to_event
    from socbot.collectors.findings import events_of
    from socbot.collectors.journald import record_event
    from socbot.collectors.secure import ParseError, parse_line
    from socbot.collectors.wifi.parsers import (
        Sensor,
        parse_airodump,
        parse_iw,
        parse_kismet,
        parse_nmcli,
    )
    from socbot.core import edge
    from socbot.core.events import validate

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SENSOR = Sensor("sensor-1", "HQ")
VENDORS = (None, "kisi", "verkada", "unifi")
INVISIBLE = set("\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060"
                "\u2066\u2067\u2068\u2069\ufeff")


def check(event: Any) -> None:
    if isinstance(event, BadRecord) or event is None:
        return
    validate(event)
    try:
        admitted = edge.admit(event)
    except edge.EdgeError:
        return
    text = encode_event(admitted)
    text.encode("utf-8")
    if "\u2028" in text or "\u0085" in text:
        raise AssertionError("raw Unicode line break in JSON output")
    if "source.ip" in admitted and edge.ip_text(admitted["source.ip"]) != admitted["source.ip"]:
        raise AssertionError(f"address not in its one form: {admitted['source.ip']!r}")


def one_input(data: bytes) -> None:
    if not data:
        return
    target, variant, rest = data[0] % 8, (data[0] & 0x7F) // 8, data[1:]
    # With the high bit set, undecodable bytes become lone surrogates (as "\\udcff").
    text = rest.decode("utf-8", "surrogateescape" if data[0] & 0x80 else "replace")
    if target == 0:
        for item in read_bytes(rest, "fuzz.json"):
            check(item)
    elif target == 1:
        try:
            body = edge.loads(text)
        except (ValueError, edge.EdgeError):
            return
        try:
            check(to_event(body, VENDORS[variant % 4], "HQ"))
        except PayloadError:
            pass
    elif target == 2:
        parser = (parse_iw, parse_nmcli)[variant % 2]
        for item in parser(text, SENSOR, NOW):
            check(item)
    elif target == 3:
        for item in (parse_airodump(rest, SENSOR) if variant % 2 else
                     parse_kismet(text, SENSOR)):
            check(item)
    elif target == 4:
        try:
            check(parse_line(text, now=NOW, event_id="x"))
        except ParseError:
            pass
    elif target == 5:
        for shown in (escape(text), escape_truncate(text, 1 + variant * 3)):
            if "<" in shown or ">" in shown or INVISIBLE & set(shown):
                raise AssertionError(f"unescaped text for Slack: {shown!r}")
    else:
        try:
            document = edge.loads(text)
        except (ValueError, edge.EdgeError):
            return
        if target == 6:
            for item in events_of(document, "fuzz"):
                check(item)
        else:
            try:
                check(record_event(document))
            except ParseError:
                pass


def main() -> None:
    json.loads("{}")  # warm the C scanner before instrumentation counts begin
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
