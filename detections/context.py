"""What a rule may know besides the event: the configuration, as quick lookups.

The engine builds one :class:`RuleContext` from the settings and hands it to every rule that
takes a second argument. It is read-only and does no I/O, so rules stay pure functions::

    def console_login_outside_office(event: Event, ctx: RuleContext) -> Match | None:
        if ctx.office_networks and not ctx.in_office(event.get("source.ip")): ...
"""

from __future__ import annotations

import ipaddress
import math
import zoneinfo
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any

from socbot.core.config import DetectionDoor, DetectionPerson, DetectionSettings, Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Look-alike characters folded before comparing SSIDs: "C0rp-WiFi" looks like "Corp WiFi".
_FOLD = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "|": "l", "!": "i"})


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# Addresses whose place or intel verdict a context remembers before it starts afresh (a flood
# of new addresses must not grow it without bound).
_CACHE_MAX = 100_000


# Addresses parsed lately, kept by their text: a rule pack asks about one address several times
# per event, and a busy source many times a minute.
@lru_cache(maxsize=65_536)
def _parse(value: str) -> Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _ip(value: Any) -> Address | None:
    if not isinstance(value, str) or not value:
        return None
    return _parse(value)


def fold_ssid(ssid: str) -> str:
    """An SSID reduced to what a person reads: case, look-alike digits and punctuation folded."""
    folded = ssid.casefold().translate(_FOLD)
    return "".join(ch for ch in folded if ch.isalnum())


def km_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


class RuleContext:
    """Lookups over :class:`~core.config.Settings` for rules."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.detection: DetectionSettings = self.settings.detection
        self.approved_amis = frozenset(self.settings.approved_amis)
        self.protected_buckets = frozenset(self.detection.protected_buckets)
        self.trusted_accounts = frozenset(self.detection.trusted_accounts)
        self.office_networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(c, strict=False) for c in self.settings.office_cidrs)
        self.site_networks: tuple[tuple[Network, str], ...] = tuple(
            (ipaddress.ip_network(c, strict=False), name)
            for name, site in self.detection.sites.items() for c in site.wifi_subnets)
        self.locations = tuple((ipaddress.ip_network(loc.cidr, strict=False), loc)
                               for loc in self.detection.ip_locations)
        self.home_countries = frozenset(c.upper() for c in self.detection.home_countries)
        self.doors: dict[str, DetectionDoor] = {d.id: d for d in self.detection.doors}
        self.corporate_ssids = frozenset(self.detection.corporate_ssids)
        self.corporate_folded = frozenset(fold_ssid(s) for s in self.corporate_ssids if s)
        self.authorized_aps: dict[str, frozenset[str]] = {}
        for ap in self.detection.authorized_aps:
            self.authorized_aps[ap.ssid] = self.authorized_aps.get(ap.ssid, frozenset()) | {
                ap.bssid}
        self.authorized_bssids = frozenset(ap.bssid for ap in self.detection.authorized_aps)
        self.known_bssids = frozenset(self.detection.known_bssids)
        self._people: dict[str, DetectionPerson] = {}
        for person in self.detection.people:
            for name in (person.email, person.name, *person.badge_ids, *person.accounts):
                if name:
                    self._people[name.casefold()] = person
        self._ip_cache: dict[str, dict[str, Any] | None] = {}
        self._intel_exact: dict[str, str] = {}
        self._intel_ranges: tuple[tuple[Network, str], ...] = ()
        self._intel_cache: dict[str, str | None] = {}
        self.set_intel({})

    # -- networks -------------------------------------------------------------------------

    def set_intel(self, table: dict[str, str]) -> None:
        """Known-bad addresses and ranges (-> the feed naming them): the refreshed feeds' table
        plus ``detection.intel_addresses`` (feed "configuration")."""
        merged = {a: "configuration" for a in self.detection.intel_addresses} | table
        self._intel_exact = {k: v for k, v in merged.items() if "/" not in k}
        self._intel_ranges = tuple((ipaddress.ip_network(k, strict=False), v)
                                   for k, v in merged.items() if "/" in k)
        self._intel_cache = {}

    def intel_feed(self, ip: Any) -> str | None:
        """The feed that lists ``ip`` as known bad (an address or a range holding it), or None."""
        if not isinstance(ip, str) or not (self._intel_exact or self._intel_ranges):
            return None
        found = self._intel_exact.get(ip)
        if found is not None or not self._intel_ranges:
            return found
        if ip not in self._intel_cache:
            address = _ip(ip)
            if len(self._intel_cache) > _CACHE_MAX:
                self._intel_cache.clear()
            self._intel_cache[ip] = next((feed for net, feed in self._intel_ranges
                                          if address is not None and address.version
                                          == net.version and address in net), None)
        return self._intel_cache[ip]

    def in_office(self, ip: Any) -> bool:
        """True if ``ip`` is in one of ``office_cidrs``."""
        if not self.office_networks:  # nothing to be in: no address to read
            return False
        address = _ip(ip)
        return address is not None and any(address in net for net in self.office_networks)

    def site_of_ip(self, ip: Any) -> str | None:
        """The site whose Wi-Fi subnets hold ``ip``."""
        if not self.site_networks:
            return None
        address = _ip(ip)
        if address is None:
            return None
        return next((name for net, name in self.site_networks if address in net), None)

    def where(self, ip: Any) -> dict[str, Any] | None:
        """What the configuration says about an address: country and coordinates, if known."""
        if not (self.locations or self.site_networks):  # no address has a known place
            return None
        key = str(ip)
        if key in self._ip_cache:
            return self._ip_cache[key]
        if len(self._ip_cache) > _CACHE_MAX:  # a flood of new addresses: start afresh
            self._ip_cache.clear()
        address = _ip(ip)
        found: dict[str, Any] | None = None
        if address is not None:
            for net, loc in self.locations:
                if address in net:
                    found = {"country": loc.country.upper(), "lat": loc.lat, "lon": loc.lon}
                    break
            site = None if found else self.site_of_ip(ip)
            if site:
                info = self.detection.sites[site]
                found = {"country": info.country.upper(), "lat": info.lat, "lon": info.lon,
                         "site": site}
        self._ip_cache[key] = found
        return found

    def remote_reason(self, ip: Any) -> str | None:
        """Why a sign-in from ``ip`` counts as from abroad or off-site, or None if it does not.

        Abroad: the address is in ``detection.ip_locations`` under a country outside
        ``detection.home_countries``. Off-site: a public address outside every office range and
        site subnet (only once some are configured; private addresses are internal).
        """
        if not (self.office_networks or self.site_networks or
                (self.locations and self.home_countries)):
            return None  # nothing configured can make an address remote
        address = _ip(ip)
        if address is None:
            return None
        place = self.where(ip)
        if place and place.get("country") and self.home_countries:
            if place["country"] not in self.home_countries:
                return f"from {place['country']}"
            return None
        if place and place.get("site"):
            return None
        if not (self.office_networks or self.site_networks):
            return None
        if address.is_private or address.is_loopback or self.in_office(ip):
            return None
        return "from outside the offices"

    # -- people and doors -----------------------------------------------------------------

    def person(self, *names: Any) -> DetectionPerson | None:
        """The badge holder known by any of ``names`` (email, name, badge id or account)."""
        for name in names:
            if isinstance(name, str) and name:
                found = self._people.get(name.casefold())
                if found is not None:
                    return found
        return None

    @staticmethod
    def person_key(person: DetectionPerson) -> str:
        """The stable key of a person across sources."""
        return (person.email or person.name).casefold()

    def door_zone(self, door: DetectionDoor) -> zoneinfo.ZoneInfo:
        """A door's time zone: its own, else its site's, else UTC."""
        name = door.timezone or (self.detection.sites[door.site].timezone
                                 if door.site in self.detection.sites else "UTC")
        return self._zone(name)

    def outside_hours(self, door: DetectionDoor, epoch_s: float) -> str | None:
        """Local time text if ``epoch_s`` falls outside the door's business hours, else None."""
        if not door.hours:
            return None
        local = datetime.fromtimestamp(epoch_s, UTC).astimezone(self.door_zone(door))
        start, end = (int(p[:2]) * 60 + int(p[3:]) for p in door.hours.split("-"))
        minute = local.hour * 60 + local.minute
        day = _DAY_NAMES[local.weekday()]
        if start <= end:
            inside = day in door.days and start <= minute < end
        else:  # an overnight span belongs to the day it starts on
            yesterday = _DAY_NAMES[(local.weekday() - 1) % 7]
            inside = (day in door.days and minute >= start) or (
                yesterday in door.days and minute < end)
        return None if inside else local.strftime("%a %H:%M %Z")

    @cached_property
    def _zones(self) -> dict[str, zoneinfo.ZoneInfo]:
        return {}

    def _zone(self, name: str) -> zoneinfo.ZoneInfo:
        zone = self._zones.get(name)
        if zone is None:
            zone = self._zones[name] = zoneinfo.ZoneInfo(name)
        return zone

    def site_of_sensor(self, event: dict[str, Any]) -> str | None:
        """The site of a Wi-Fi sensor: ``observer.site``, else ``detection.sensors``."""
        site = event.get("observer.site")
        return site if site else self.detection.sensors.get(str(event.get("observer.name", "")))

    def site_coordinates(self, site: str) -> tuple[float, float] | None:
        """A site's latitude and longitude, if configured."""
        info = self.detection.sites.get(site)
        if info is None or info.lat is None or info.lon is None:
            return None
        return info.lat, info.lon
