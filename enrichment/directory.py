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
    """Badge holders (``detection.people``) by badge id, e-mail, account name or name.

    An entry has ``name``, ``email``, ``badge_ids`` (a list), ``accounts`` (user names that are
    theirs), ``status`` and, where the directory has one, ``team``. Matching ignores case.

    Example::

        directory = BadgeDirectory([{"badge_ids": ["1234"], "name": "Ana Ruiz",
                                     "team": "Finance", "status": "active"}])
        directory.match({"door.badge_id": "1234"})
        # {'name': 'Ana Ruiz', 'team': 'Finance', 'status': 'active', 'matched_on': 'badge_id'}
    """

    # alert field -> directory key, in the order they are tried
    KEYS = (("door.badge_id", "badge_ids"), ("user.email", "email"), ("user.id", "person_id"),
            ("user.name", "accounts"), ("user.name", "name"))

    def __init__(self, entries: Iterable[Any]) -> None:
        self.entries = [_record(e) for e in entries]
        self._index: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in self.entries:
            for _field, key in self.KEYS:
                values = entry.get(key) or []
                for value in values if isinstance(values, list) else [values]:
                    text = str(value).strip().lower()
                    if text:
                        self._index.setdefault((key, text), entry)

    def match(self, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """The holder the alert's badge, e-mail, person id or name names; None if unknown."""
        for field, key in self.KEYS:
            value = str(fields.get(field) or "").strip().lower()
            entry = self._index.get((key, value)) if value else None
            if entry is not None:
                shown = {k: entry[k] for k in ("name", "email", "team", "status") if entry.get(k)}
                return {**shown, "matched_on": key.rstrip("s") if key == "badge_ids" else key}
        return None


class AccessPointInventory:
    """Authorized access points by BSSID, and which SSIDs they broadcast.

    A BSSID that is not in the inventory but broadcasts an inventoried SSID is the shape of an
    evil twin: the match says so (``ssid_impersonated``).
    """

    def __init__(self, entries: Iterable[Any], corporate_ssids: Iterable[str] = ()) -> None:
        self.entries = [_record(e) for e in entries]
        self._by_bssid = {str(e.get("bssid", "")).lower(): e for e in self.entries
                          if e.get("bssid")}
        self._ssids: dict[str, list[str]] = {}
        for entry in self.entries:
            if entry.get("ssid") is not None:
                self._ssids.setdefault(str(entry["ssid"]), []).append(
                    str(entry.get("bssid", "")).lower())
        for ssid in corporate_ssids:
            self._ssids.setdefault(ssid, [])

    @property
    def configured(self) -> bool:
        """True when the configuration lists any access point or corporate SSID."""
        return bool(self.entries or self._ssids)

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
        ours = ssid is not None and str(ssid) in self._ssids
        known = self._ssids.get(str(ssid), []) if ours else []
        return {"authorized": False, "bssid": bssid, "ssid": ssid or "",
                "ssid_impersonated": ours, "known_bssids": known[:10]}


def from_settings(settings: Any) -> tuple[BadgeDirectory, AccessPointInventory]:
    """The badge directory (``detection.people``) and the AP inventory
    (``detection.authorized_aps``, ``detection.corporate_ssids``) of the configuration."""
    detection = getattr(settings, "detection", None)
    people = getattr(detection, "people", None) or []
    aps = getattr(detection, "authorized_aps", None) or []
    ssids = getattr(detection, "corporate_ssids", None) or []
    return BadgeDirectory(people), AccessPointInventory(aps, ssids)
