"""Matches against the organisation's own lists: the badge directory and authorized APs.

Both lists come from the configuration, so they are looked up in memory; caching them in Redis
would only serve stale answers after the file changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _record(item: Any) -> dict[str, Any]:
    if hasattr(item, "model_dump"):
        return dict(item.model_dump())
    return dict(item)


class BadgeDirectory:
    """Badge holders by badge id, e-mail, vendor person id or name (case-insensitive).

    Example::

        directory = BadgeDirectory([{"badge_id": "1234", "name": "Ana Ruiz",
                                     "team": "Finance", "status": "active"}])
        directory.match({"door.badge_id": "1234"})
        # {'badge_id': '1234', 'name': 'Ana Ruiz', 'team': 'Finance', 'status': 'active',
        #  'matched_on': 'badge_id'}
    """

    KEYS = (("door.badge_id", "badge_id"), ("user.email", "email"), ("user.id", "person_id"),
            ("user.name", "name"))

    def __init__(self, entries: Iterable[Any]) -> None:
        self.entries = [_record(e) for e in entries]
        self._index: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in self.entries:
            for _field, key in self.KEYS:
                value = str(entry.get(key) or "").strip().lower()
                if value:
                    self._index.setdefault((key, value), entry)

    def match(self, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """The holder the alert's badge, e-mail, person id or name names; None if unknown."""
        for field, key in self.KEYS:
            value = str(fields.get(field) or "").strip().lower()
            entry = self._index.get((key, value)) if value else None
            if entry is not None:
                return {**entry, "matched_on": key}
        return None


class AccessPointInventory:
    """Authorized access points by BSSID, and which SSIDs they broadcast.

    A BSSID that is not in the inventory but broadcasts an inventoried SSID is the shape of an
    evil twin: the match says so (``ssid_impersonated``).
    """

    def __init__(self, entries: Iterable[Any]) -> None:
        self.entries = [_record(e) for e in entries]
        self._by_bssid = {str(e.get("bssid", "")).lower(): e for e in self.entries
                          if e.get("bssid")}
        self._ssids: dict[str, list[str]] = {}
        for entry in self.entries:
            if entry.get("ssid") is not None:
                self._ssids.setdefault(str(entry["ssid"]), []).append(
                    str(entry.get("bssid", "")).lower())

    def match(self, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """How ``wifi.bssid`` / ``wifi.ssid`` compare with the inventory; None without them."""
        bssid = str(fields.get("wifi.bssid") or "").lower()
        ssid = fields.get("wifi.ssid")
        if not bssid and ssid is None:
            return None
        entry = self._by_bssid.get(bssid) if bssid else None
        if entry is not None:
            return {"authorized": True, "bssid": bssid, "ssid": entry.get("ssid", ""),
                    "site": entry.get("site", ""),
                    "ssid_matches": ssid is None or entry.get("ssid") == ssid}
        known = self._ssids.get(str(ssid), []) if ssid is not None else []
        return {"authorized": False, "bssid": bssid, "ssid": ssid or "",
                "ssid_impersonated": bool(known), "known_bssids": known[:10]}


def directory_entries(settings: Any) -> tuple[list[Any], list[Any]]:
    """The badge directory and the authorized-AP list from the configuration, wherever the
    configuration keeps them; empty lists when it has neither."""
    badges = _first(settings, ("badges", "badge_directory", "directory"))
    aps = _first(settings, ("authorized_aps", "access_points", "wifi.authorized_aps",
                            "wifi.access_points"))
    return list(badges or []), list(aps or [])


def _first(settings: Any, paths: tuple[str, ...]) -> Any:
    for path in paths:
        value = settings
        for part in path.split("."):
            value = getattr(value, part, None)
            if value is None:
                break
        if value is not None:
            if isinstance(value, Mapping):
                return list(value.values())
            return value
    return None
