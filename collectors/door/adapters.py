"""Vendor door-access payloads to events (``event.dataset`` ``door``).

One event per payload::

    event.action   door_access (event.outcome success = granted, failure = denied),
                   door_forced_open, door_held_open (event.outcome unknown)
    door.site door.id door.name door.badge_id door.result (granted | denied) door.reason
    user.name user.email user.id observer.vendor original (the vendor record)

Vendors and the fields read (names from the vendors' published webhook documentation):

UniFi Access (``observer.vendor`` ``unifi``)
    ``{"event": "access.door.unlock", "event_object_id", "data": {"location": {"id", "name",
    "location_type"}, "actor": {"id", "name"|"display_name", "email"}, "object":
    {"authentication_value", "result", "reason"}}}`` and the system-log shape
    ``{"event": "access.logs.add", "data": {"_id", "_source": {"actor": {"id", "display_name"},
    "target": [{"type": "door", "id", "display_name"}], "event": {"type", "result"},
    "authentication": {"credential_provider", "issuer"}}}}``
Verkada Access (``verkada``)
    ``{"webhook_type", "webhook_id", "org_id", "created_at", "data": {"notification_type",
    "event_id", "door_id", "created"|"created_at", "input_value", "user_info": {"user_id",
    "name", "email"}, "door_info": {"name", "site"}, "aux_info": {"site"}}}``
Kisi (``kisi``)
    ``{"uuid", "type": "lock.unlock", "actor_type", "actor_id", "actor_name", "object_id",
    "object_name", "place_id", "success", "error_code", "error_message", "created_at"}``

Parsers never guess: a payload whose kind (granted, denied, forced, held) cannot be read is a
:class:`PayloadError`, not an event with a made-up result.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from socbot.core import edge
from socbot.core.events import Event, format_timestamp, stable_id

__all__ = ["ADAPTERS", "PayloadError", "detect", "door_event", "to_event"]


class PayloadError(ValueError):
    """A body that is not a door-access payload of the vendor it was sent as."""


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return value if isinstance(value, str) and value else None


def _moment(value: Any) -> str:
    """@timestamp from ISO 8601 text or epoch seconds (or milliseconds)."""
    try:
        return format_timestamp(edge.moment(value))
    except edge.EdgeError as exc:
        raise PayloadError(str(exc)) from None


def _kind(text: str) -> str | None:
    """door_forced_open, door_held_open, granted, denied or None, from a vendor's words."""
    words = text.lower().replace("_", " ").replace(".", " ").replace("-", " ")
    if "forced" in words:
        return "door_forced_open"
    if "held" in words or "propped" in words:
        return "door_held_open"
    if any(w in words for w in ("denied", "reject", "blocked", "invalid", "unauthori", "fail")):
        return "denied"
    if any(w in words for w in ("granted", "unlock", "allowed", "access", "accepted", "opened")):
        return "granted"
    return None


def door_event(*, vendor: str, kind: str, timestamp: str, event_id: str | None,
               original: Any, fields: dict[str, Any]) -> Event:
    """Build the normalized event; ``kind`` is granted, denied, door_forced_open or
    door_held_open; None values in ``fields`` are left out."""
    if kind in ("granted", "denied"):
        action, outcome = "door_access", "success" if kind == "granted" else "failure"
        fields = {**fields, "door.result": kind}
    else:
        action, outcome = kind, "unknown"
    raw = json.dumps(original, sort_keys=True, default=str)
    event: Event = {
        "@timestamp": timestamp,
        "event.id": f"{vendor}:{event_id}" if event_id else stable_id(vendor, raw),
        "event.dataset": "door",
        "event.action": action,
        "event.outcome": outcome,
        "observer.vendor": vendor,
    }
    event.update({k: v for k, v in fields.items() if v is not None})
    door = event.get("door.name") or event.get("door.id") or "unknown door"
    who = event.get("user.name") or event.get("door.badge_id") or "unknown person"
    verb = {"door_forced_open": "forced open", "door_held_open": "held open"}.get(
        action, f"access {kind}")
    event["message"] = f"{door}: {verb}" + (f" for {who}" if action == "door_access" else "")
    event["original"] = original
    return event


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def unifi(body: dict[str, Any], site: str | None) -> Event:
    """UniFi Access ``access.door.unlock`` and ``access.logs.add`` payloads."""
    name = body.get("event")
    data = _dict(body.get("data"))
    if not isinstance(name, str) or not name.startswith("access."):
        raise PayloadError("not a UniFi Access event (no 'event': 'access.*')")
    if name == "access.logs.add":
        source = _dict(data.get("_source"))
        event = _dict(source.get("event"))
        actor = _dict(source.get("actor"))
        auth = _dict(source.get("authentication"))
        doors = [t for t in _list(source.get("target")) if isinstance(t, dict)
                 and t.get("type") in ("door", "UAH-DOOR", "location")]
        door = doors[0] if doors else _dict(source.get("door"))
        kind = _kind(_text(event.get("type")) or "")
        if kind not in ("door_forced_open", "door_held_open") and _text(event.get("result")):
            kind = _kind(_text(event["result"]) or "")  # "ACCESS" / "BLOCKED"
        stamp = event.get("published") or source.get("@timestamp") or body.get("timestamp")
        fields = {"door.id": _text(door.get("id")),
                  "door.name": _text(door.get("display_name") or door.get("name")),
                  "user.name": _text(actor.get("display_name") or actor.get("name")),
                  "user.id": _text(actor.get("id")), "user.email": _text(actor.get("email")),
                  "door.badge_id": _text(auth.get("credential_id") or auth.get("issuer")),
                  "door.reason": _text(event.get("result")),
                  "door.site": site}
        event_id = _text(data.get("_id")) or _text(body.get("event_object_id"))
    else:
        location = _dict(data.get("location"))
        actor = _dict(data.get("actor"))
        obj = _dict(data.get("object"))
        kind = _kind(name) if name == "access.door.unlock" or "forced" in name \
            or "held" in name else None
        if kind == "granted" and obj.get("result") is not None:
            kind = _kind(str(obj["result"])) or kind
        stamp = body.get("timestamp") or data.get("timestamp") or obj.get("timestamp")
        fields = {"door.id": _text(location.get("id")), "door.name": _text(location.get("name")),
                  "user.name": _text(actor.get("name") or actor.get("display_name")),
                  "user.id": _text(actor.get("id")), "user.email": _text(actor.get("email")),
                  "door.badge_id": _text(obj.get("authentication_value")),
                  "door.reason": _text(obj.get("reason") or obj.get("result")),
                  "door.site": site}
        event_id = _text(body.get("event_object_id"))
    if kind is None:
        raise PayloadError(f"UniFi Access event {name!r} is not a door access event")
    return door_event(vendor="unifi", kind=kind, timestamp=_stamp(stamp), event_id=event_id,
                      original=body, fields=fields)


def _stamp(value: Any) -> str:
    # A payload without a time of its own is stamped on receipt (the receiver is live).
    return format_timestamp(datetime.now(UTC)) if value in (None, "") else _moment(value)


def verkada(body: dict[str, Any], site: str | None) -> Event:
    """Verkada Access Control notification webhooks."""
    data = body.get("data")
    if "webhook_type" not in body or not isinstance(data, dict):
        raise PayloadError("not a Verkada webhook (no 'webhook_type' and 'data')")
    kind_text = _text(data.get("notification_type")) or ""
    kind = _kind(kind_text)
    if kind is None:
        raise PayloadError(f"Verkada notification_type {kind_text!r} is not a door event")
    user = _dict(data.get("user_info"))
    door = _dict(data.get("door_info"))
    aux = _dict(data.get("aux_info"))
    name = _text(user.get("name")) or " ".join(
        filter(None, (_text(user.get("first_name")), _text(user.get("last_name"))))) or None
    fields = {"door.id": _text(data.get("door_id")), "door.name": _text(door.get("name")),
              "door.site": _text(door.get("site")) or _text(aux.get("site")) or site,
              "user.name": name, "user.email": _text(user.get("email")),
              "user.id": _text(user.get("user_id")),
              "door.badge_id": _text(data.get("input_value")), "door.reason": kind_text}
    stamp = data.get("created") or data.get("created_at") or body.get("created_at")
    return door_event(vendor="verkada", kind=kind, timestamp=_stamp(stamp),
                      event_id=_text(data.get("event_id")) or _text(body.get("webhook_id")),
                      original=body, fields=fields)


def kisi(body: dict[str, Any], site: str | None) -> Event:
    """Kisi event webhooks (``lock.unlock`` and door sensor events)."""
    kind_text = _text(body.get("type"))
    if not kind_text or "uuid" not in body:
        raise PayloadError("not a Kisi event (no 'uuid' and 'type')")
    if "success" in body and isinstance(body["success"], bool) and _kind(kind_text) == "granted":
        kind: str | None = "granted" if body["success"] else "denied"
    else:
        kind = _kind(kind_text)
    if kind is None:
        raise PayloadError(f"Kisi event type {kind_text!r} is not a door event")
    reason = _text(body.get("error_message")) or _text(body.get("error_code"))
    fields = {"door.id": _text(body.get("object_id")), "door.name": _text(body.get("object_name")),
              "door.site": _text(body.get("place_id")) or site,
              "user.name": _text(body.get("actor_name")), "user.id": _text(body.get("actor_id")),
              "user.email": _text(body.get("actor_email")), "door.reason": reason}
    return door_event(vendor="kisi", kind=kind, timestamp=_stamp(body.get("created_at")),
                      event_id=_text(body.get("uuid")), original=body, fields=fields)


Adapter = Callable[[dict[str, Any], str | None], Event]
ADAPTERS: dict[str, Adapter] = {"unifi": unifi, "verkada": verkada, "kisi": kisi}


def detect(body: Any) -> str | None:
    """The vendor whose payload shape ``body`` has, or None."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("event"), str) and body["event"].startswith("access."):
        return "unifi"
    if "webhook_type" in body and isinstance(body.get("data"), dict):
        return "verkada"
    if "uuid" in body and "type" in body:
        return "kisi"
    return None


def to_event(body: Any, vendor: str | None = None, site: str | None = None) -> Event:
    """The event of one payload from ``vendor`` (detected from the shape when None)."""
    if not isinstance(body, dict):
        raise PayloadError("a door payload is a JSON object")
    vendor = vendor or detect(body)
    if vendor is None:
        raise PayloadError("not a UniFi Access, Verkada or Kisi payload")
    if vendor not in ADAPTERS:
        raise PayloadError(f"unknown vendor {vendor!r}; use one of {', '.join(ADAPTERS)}")
    return ADAPTERS[vendor](body, site or None)
