"""What the auth-log message modules share: the rule type, source fields, ambiguity marking.

A :class:`MessageRule` is one anchored pattern and a builder that turns its match into event
fields; the builder may return None when the match turns out to be of no interest (a shape
the pattern admits but the daemon never writes with an address or a user).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from socbot.core import edge

Fields = dict[str, object]
Build = Callable[[re.Match[str]], "Fields | None"]

__all__ = ["AMBIGUOUS", "Build", "Fields", "MessageRule", "ambiguous", "normal_ip", "source"]

AMBIGUOUS = "ambiguous_fields"
# A host name as resolvers accept it (sshd with UseDNS, PAM's rhost): labels of letters,
# digits, hyphens and underscores, joined by dots.
_HOSTNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63}){0,126}\.?")


@dataclass(frozen=True)
class MessageRule:
    """One message pattern (matched whole) and how to build fields from its match."""

    pattern: re.Pattern[str]
    build: Build


@functools.lru_cache(maxsize=65536)
def normal_ip(addr: str) -> str | None:
    """The canonical text of an IP address (IPv4-mapped IPv6 as IPv4; an IPv6 scope id such
    as ``%eth0`` kept), or None if ``addr`` is not an IP address."""
    return edge.ip_text(addr)


def source(fields: Fields, addr: str | None, port: str | None = None) -> None:
    """Set ``source.*`` from the daemon-written address token: ``source.ip`` for an address,
    ``source.domain`` for a host name (``UseDNS``, PAM's ``rhost``); the token itself is kept
    as ``source.address`` either way."""
    if addr:
        fields["source.address"] = addr
        ip = normal_ip(addr)
        if ip is not None:
            fields["source.ip"] = ip
        elif _HOSTNAME.fullmatch(addr) and not addr.replace(".", "").isdigit():
            fields["source.domain"] = addr.rstrip(".").lower()
    if port is not None and len(port) <= 5 and 0 <= int(port) <= 65535:
        fields["source.port"] = int(port)


def ambiguous(fields: Fields, *left_out: str) -> Fields:
    """Mark ``fields`` as read two ways: the fields named are removed and the event is tagged
    ``ambiguous_fields`` (parsers never guess between two readings)."""
    for name in left_out:
        fields.pop(name, None)
    fields["tags"] = [AMBIGUOUS]
    return fields
