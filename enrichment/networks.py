"""Labels for the organisation's own address ranges: office, VPN and any named range.

The most specific range wins, so ``10.0.0.0/8: corporate`` and ``10.8.0.0/16: VPN`` give
``VPN`` for 10.8.1.2 and ``corporate`` for 10.9.1.2.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class _Range:
    network: Network
    kind: str
    label: str


class NetworkLabels:
    """Match an address against labelled ranges.

    Example::

        labels = NetworkLabels(office=["192.0.2.0/24"], vpn=["10.8.0.0/16"],
                               named={"10.20.0.0/16": "Berlin office"})
        labels.match("10.8.0.5")  # {'kind': 'vpn', 'label': 'VPN', 'cidr': '10.8.0.0/16'}
    """

    def __init__(self, *, office: Iterable[str] = (), vpn: Iterable[str] = (),
                 named: Mapping[str, str] | None = None) -> None:
        ranges = [_Range(_net(c), _kind(label), label) for c, label in (named or {}).items()]
        ranges += [_Range(_net(c), "vpn", "VPN") for c in vpn]
        ranges += [_Range(_net(c), "office", "office") for c in office]
        # Longest prefix first; the sort is stable, so among equal prefixes a named range
        # beats a bare list entry.
        self.ranges = sorted(ranges, key=lambda r: -r.network.prefixlen)

    def match(self, ip: str) -> dict[str, Any] | None:
        """The most specific labelled range holding ``ip``, or None."""
        address = ipaddress.ip_address(ip)
        for entry in self.ranges:
            if address.version == entry.network.version and address in entry.network:
                return {"kind": entry.kind, "label": entry.label, "cidr": str(entry.network)}
        return None


def _net(cidr: str) -> Network:
    return ipaddress.ip_network(cidr, strict=False)


def _kind(label: str) -> str:
    lowered = label.lower()
    if "vpn" in lowered:
        return "vpn"
    if "office" in lowered:
        return "office"
    return "internal"
