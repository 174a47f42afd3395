"""Sections the detection rules read: ``rules:`` (per-rule overrides) and ``detection:`` (what
the rules know about the estate: sites, doors, people, access points, trusted accounts)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from socbot.core.alerts import SEVERITIES
from socbot.core.config._common import Section, account_id, network, time_zone

_HOURS = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d-(?:[01]\d|2[0-3]):[0-5]\d")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PERSON_STATUSES = ("active", "disabled", "suspended", "terminated")
_BSSID = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")


def _bssid(value: str) -> str:
    if not _BSSID.fullmatch(value):
        raise ValueError(f"bssid {value!r}: write six hex pairs separated by colons, "
                         "such as 'aa:bb:cc:dd:ee:ff'")
    return value.lower()


class RuleSettings(Section):
    """Per-rule overrides: enabled, severity and the rule's own parameters."""

    enabled: bool = True
    severity: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str | None) -> str | None:
        if value is not None and value not in SEVERITIES:
            raise ValueError(f"unknown severity {value!r}; use one of {', '.join(SEVERITIES)}")
        return value


class DetectionSite(Section):
    """A site: its time zone, where it is (for travel time), its country and Wi-Fi subnets."""

    timezone: str = "UTC"
    country: str = ""
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    wifi_subnets: list[str] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return time_zone(value)

    @field_validator("wifi_subnets")
    @classmethod
    def _subnets(cls, value: list[str]) -> list[str]:
        for cidr in value:
            network(cidr)
        return value


class DetectionDoor(Section):
    """A door and its business hours (in its own time zone, else its site's)."""

    id: str
    site: str = ""
    name: str = ""
    hours: str = ""
    days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    timezone: str = ""

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if value and not _HOURS.fullmatch(value):
            raise ValueError(f"hours {value!r}: write 'HH:MM-HH:MM' in 24-hour time, such as "
                             "'07:00-19:00' (an overnight span like '22:00-06:00' works too), "
                             "or leave it out for a door open at any hour")
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        for day in value:
            if day not in _DAYS:
                raise ValueError(f"day {day!r}: write three-letter English day names "
                                 f"({', '.join(_DAYS)})")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return time_zone(value) if value else value


class DetectionPerson(Section):
    """A badge holder: badges, the account names that are theirs, and whether they may enter."""

    email: str = ""
    name: str = ""
    badge_ids: list[str] = Field(default_factory=list)
    accounts: list[str] = Field(default_factory=list)
    status: str = "active"

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in _PERSON_STATUSES:
            raise ValueError(f"status {value!r}: write one of {', '.join(_PERSON_STATUSES)}")
        return value


class DetectionAccessPoint(Section):
    """One authorized access point: the SSID it broadcasts and its BSSID."""

    ssid: str
    bssid: str

    @field_validator("bssid")
    @classmethod
    def _bssid(cls, value: str) -> str:
        return _bssid(value)


class DetectionIpLocation(Section):
    """Where an address range is: its country and, optionally, coordinates."""

    cidr: str
    country: str
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return network(value)


class DetectionIntelFeed(Section):
    """A threat-intelligence feed of known-bad addresses (``detection.intel_feeds``)."""

    name: str = Field(min_length=1, max_length=64)
    path: str = ""
    url: str = ""
    format: str = "list"

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value not in ("list", "stix", "misp"):
            raise ValueError(f"format {value!r}: write list (one address or range a line), "
                             "stix (a STIX 2 bundle, e.g. a TAXII export) or misp (MISP CSV)")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith("https://"):
            raise ValueError(f"url {value!r}: feeds are fetched over https:// only")
        return value

    @model_validator(mode="after")
    def _one_place(self) -> DetectionIntelFeed:
        if bool(self.path) == bool(self.url):
            raise ValueError(f"feed {self.name!r}: give path (a file) or url (https), not both "
                             "or neither")
        return self


class DetectionSettings(Section):
    """What detection rules need to know about the estate (``detection:``)."""

    protected_buckets: list[str] = Field(default_factory=list)
    trusted_accounts: list[str] = Field(default_factory=list)
    sites: dict[str, DetectionSite] = Field(default_factory=dict)
    doors: list[DetectionDoor] = Field(default_factory=list)
    people: list[DetectionPerson] = Field(default_factory=list)
    corporate_ssids: list[str] = Field(default_factory=list)
    authorized_aps: list[DetectionAccessPoint] = Field(default_factory=list)
    known_bssids: list[str] = Field(default_factory=list)
    sensors: dict[str, str] = Field(default_factory=dict)
    ip_locations: list[DetectionIpLocation] = Field(default_factory=list)
    home_countries: list[str] = Field(default_factory=list)
    max_travel_kmh: float = Field(default=900.0, gt=0)
    risk_threshold: int = Field(default=100, ge=1)
    risk_window_s: int = Field(default=86400, ge=60)
    intel_feeds: list[DetectionIntelFeed] = Field(default_factory=list)
    intel_refresh_s: int = Field(default=3600, ge=60)
    intel_addresses: list[str] = Field(default_factory=list)

    @field_validator("intel_addresses")
    @classmethod
    def _intel_addresses(cls, value: list[str]) -> list[str]:
        return [network(cidr) for cidr in value]

    @field_validator("trusted_accounts")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        return [account_id(account) for account in value]

    @field_validator("known_bssids")
    @classmethod
    def _bssids(cls, value: list[str]) -> list[str]:
        return [_bssid(bssid) for bssid in value]

    @model_validator(mode="after")
    def _references(self) -> DetectionSettings:
        for door in self.doors:
            if door.site and door.site not in self.sites:
                raise ValueError(f"door {door.id!r} names site {door.site!r}, which is not under "
                                 "detection.sites; add the site or fix the name")
        for sensor, site in self.sensors.items():
            if site not in self.sites:
                raise ValueError(f"sensor {sensor!r} names site {site!r}, which is not under "
                                 "detection.sites; add the site or fix the name")
        return self
