"""GeoIP lookups offline: geoip2fast's bundled data, or MaxMind databases when configured.

geoip2fast ships a MaxMind GeoLite2-derived file with **country and AS name** for IPv4 and
IPv6 (no city, no AS number). A MaxMind ``.mmdb`` City database (``enrichment.maxmind_city_db``)
adds the city and replaces the country; an ASN database (``enrichment.maxmind_asn_db``) adds
the AS number and organisation. Nothing here reaches the network.

Example::

    geo = GeoIP(city_db="/var/lib/GeoIP/GeoLite2-City.mmdb")
    geo.lookup("8.8.8.8")
    # {'country_code': 'US', 'country': 'United States', 'city': 'Mountain View',
    #  'asn': 15169, 'as_org': 'GOOGLE', 'source': 'maxmind+geoip2fast'}
"""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path
from typing import Any

from socbot.enrichment.errors import SourceUnavailable

# geoip2fast's file with country and ASN, IPv4 and IPv6 (shipped inside the package).
GEOIP2FAST_FILE = "geoip2fast-asn-ipv6.dat.gz"

_lock = threading.Lock()
_fast: Any = None
_readers: dict[str, Any] = {}


def _geoip2fast() -> Any:
    """The process's geoip2fast reader: loading its file takes about half a second, once."""
    global _fast
    with _lock:
        if _fast is None:
            try:
                from geoip2fast import GeoIP2Fast
            except ImportError as exc:
                raise SourceUnavailable("geoip2fast is not installed") from exc
            _fast = GeoIP2Fast(geoip2fast_data_file=GEOIP2FAST_FILE)
        return _fast


def _mmdb(path: str) -> Any:
    with _lock:
        reader = _readers.get(path)
        if reader is None:
            if not Path(path).is_file():
                raise SourceUnavailable(f"MaxMind database {path} not found: fix "
                                        "enrichment.maxmind_city_db / maxmind_asn_db")
            import maxminddb

            try:
                reader = _readers[path] = maxminddb.open_database(path)
            except (OSError, ValueError) as exc:
                raise SourceUnavailable(f"MaxMind database {path} unreadable: {exc}") from exc
        return reader


class GeoIP:
    """Country, city and AS of an address, from the configured offline databases."""

    def __init__(self, city_db: str = "", asn_db: str = "") -> None:
        self.city_db = city_db
        self.asn_db = asn_db

    @property
    def version(self) -> str:
        """Names the databases in use, so cached answers change when they do."""
        return f"g2f|{self.city_db}|{self.asn_db}|scopes2"

    def lookup(self, ip: str) -> dict[str, Any]:
        """What the databases say about ``ip``; ``{"scope": "private"}`` for addresses that
        have no location (private, loopback, link-local, reserved...)."""
        address = ipaddress.ip_address(ip)
        if not address.is_global:
            return {"scope": _scope(address)}
        found: dict[str, Any] = {"country_code": "", "country": "", "city": "",
                                 "asn": None, "as_org": ""}
        sources = []
        if self.city_db:
            record = _mmdb(self.city_db).get(str(address)) or {}
            country = record.get("country") or record.get("registered_country") or {}
            found["country_code"] = country.get("iso_code", "")
            found["country"] = (country.get("names") or {}).get("en", "")
            found["city"] = ((record.get("city") or {}).get("names") or {}).get("en", "")
            sources.append("maxmind-city")
        if self.asn_db:
            record = _mmdb(self.asn_db).get(str(address)) or {}
            found["asn"] = record.get("autonomous_system_number")
            found["as_org"] = record.get("autonomous_system_organization", "")
            sources.append("maxmind-asn")
        if not found["country_code"] or not found["as_org"]:
            fast = _geoip2fast().lookup(str(address))
            code = fast.country_code if fast.country_code not in ("", "--") else ""
            if not found["country_code"] and code:
                found["country_code"], found["country"] = code, fast.country_name
            if not found["as_org"]:
                found["as_org"] = fast.asn_name or ""
            sources.append("geoip2fast")
        found["source"] = "+".join(sources)
        return found


# Ranges reserved for documentation and examples (RFC 5737, RFC 3849): Python counts them as
# "private", but nobody's network uses them; an alert naming one is a test or a sample.
DOCUMENTATION = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


def _scope(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if any(address in network for network in DOCUMENTATION):
        return "documentation-range"
    if address.is_private:
        return "private"
    return "reserved"
