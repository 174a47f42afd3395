"""Enrichment as short label/value lines, for Slack blocks and the terminal.

The values are plain text built from untrusted data (a user name from a log, a tag someone
wrote on an instance): the caller escapes them where they meet Slack (``bot.escape``).

Example::

    for label, value in summary_lines(enricher.for_alert(alert)):
        print(f"{label}: {value}")
    # GeoIP: US (United States), AS15169 GOOGLE
    # Network: VPN (10.8.0.0/16)
    # IAM user: alice, MFA: none, groups: admins, keys: AKIA...7EXA active 412 d
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def summary_lines(enrichment: dict[str, Any], *, limit: int = 8) -> list[tuple[str, str]]:
    """At most ``limit`` lines, most useful first; what was unavailable comes last."""
    lines: list[tuple[str, str]] = []
    geo = enrichment.get("geoip")
    if geo:
        lines.append(("GeoIP", _geo(geo)))
    network = enrichment.get("network")
    if network:
        lines.append(("Network", f"{network['label']} ({network['cidr']})"))
    aws = enrichment.get("aws") or {}
    if aws:
        alias = aws.get("account_alias")
        lines.append(("AWS account", f"{aws['account']}" + (f" ({alias})" if alias else "")))
    user = aws.get("iam_user")
    if user:
        lines.append(("IAM user", _user(user)))
    instance = aws.get("instance")
    if instance:
        lines.append(("Instance", _instance(instance)))
    badge = enrichment.get("badge")
    if badge:
        lines.append(("Badge holder", ", ".join(str(badge[k]) for k in ("name", "team", "status")
                                                if badge.get(k))))
    ap = enrichment.get("access_point")
    if ap:
        lines.append(("Access point", _ap(ap)))
    for field, seen in (enrichment.get("history") or {}).items():
        first = seen.get("first_seen")
        count = f"{seen.get('events_24h', 0)}{'+' if seen.get('capped') else ''}"
        window = f" in the last {seen['window_h']} h" if seen.get("window_h") else ""
        lines.append((f"History {field}", f"{count} events in 24 h"
                      + (f", first seen {_utc(first)}" if first else f", not seen{window}")))
    unavailable = enrichment.get("unavailable") or {}
    shown = lines[: limit - 1] if unavailable else lines[:limit]
    if unavailable:
        shown.append(("Unavailable", "; ".join(f"{k}: {v}" for k, v in unavailable.items())))
    return shown


def _geo(geo: dict[str, Any]) -> str:
    if geo.get("scope"):
        return f"{geo['scope']} address"
    place = ", ".join(p for p in (geo.get("city"), geo.get("country")) if p)
    text = f"{geo.get('country_code') or '?'}" + (f" ({place})" if place else "")
    asn = geo.get("asn")
    org = geo.get("as_org")
    if asn or org:
        text += ", " + " ".join(p for p in (f"AS{asn}" if asn else "", org or "") if p)
    return text


def _user(user: dict[str, Any]) -> str:
    mfa = user.get("mfa_devices") or 0
    keys = ", ".join(f"{k['id'][:4]}...{k['id'][-4:]} {k.get('status', '').lower()} "
                     f"{k.get('age_days')} d" for k in user.get("access_keys", []))
    groups = ", ".join(user.get("groups", [])) or "none"
    return (f"{user['user']}, MFA: {mfa or 'none'}, groups: {groups}"
            + (f", keys: {keys}" if keys else ""))


def _instance(instance: dict[str, Any]) -> str:
    parts = [instance["id"]]
    if instance.get("name"):
        parts.append(f"\"{instance['name']}\"")
    if instance.get("owner"):
        parts.append(f"owner {instance['owner']}")
    if instance.get("public_ip"):
        parts.append(f"public {instance['public_ip']}")
    groups = ", ".join(g["id"] for g in instance.get("security_groups", []))
    if groups:
        parts.append(f"SGs {groups}")
    return " ".join(parts[:2]) + ("; " + "; ".join(parts[2:]) if parts[2:] else "")


def _ap(ap: dict[str, Any]) -> str:
    if ap.get("authorized"):
        return f"authorized ({ap.get('site') or 'no site'})" + (
            "" if ap.get("ssid_matches", True) else ", but broadcasting another SSID")
    if ap.get("ssid_impersonated"):
        return "NOT authorized, and it broadcasts an authorized SSID (possible evil twin)"
    return "not in the inventory"


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M UTC")
