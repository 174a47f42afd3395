"""Gather the context of an alert from every source, each cached and each failing soft.

:meth:`Enricher.enrich` returns one JSON-ready dict, one key per source that answered, and
``unavailable`` naming each source that could not answer and why::

    {
      "ip": "8.8.8.8",
      "geoip": {"country_code": "US", "country": "United States", "city": "",
                "asn": None, "as_org": "GOOGLE", "source": "geoip2fast"},
      "network": {"kind": "vpn", "label": "VPN", "cidr": "10.8.0.0/16"},
      "aws": {"account_alias": "prod", "iam_user": {...}, "instance": {...}},
      "badge": {"name": "Ana Ruiz", "team": "Finance", "status": "active", ...},
      "access_point": {"authorized": False, "ssid_impersonated": True, ...},
      "history": {"source.ip": {"events_24h": 41, "first_seen": 1763860000.0}},
      "unavailable": {"aws.iam_user": "AccessDenied on ListMFADevices: grant ..."}
    }

:func:`enrichment.display.summary_lines` turns it into label/value lines for Slack or a
terminal. Nothing here raises into the caller: an alert is posted with whatever was found.

Example::

    enricher = Enricher(redis_client, settings, session_factory=sessions)
    extra = enricher.for_alert(alert)     # computed once per alert, then read from Redis
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from socbot.core import edge, metrics
from socbot.core.alerts import ALERT_TTL_S
from socbot.core.config import Settings
from socbot.enrichment.aws import AwsContext, Sessions
from socbot.enrichment.cache import Cache
from socbot.enrichment.directory import from_settings
from socbot.enrichment.display import summary_lines
from socbot.enrichment.errors import SourceUnavailable
from socbot.enrichment.geoip import GeoIP
from socbot.enrichment.history import DAY_S, EntityHistory, default_history
from socbot.enrichment.networks import NetworkLabels

log = logging.getLogger(__name__)

# Each alert's enrichment is kept in the cache (``{soc}:enrich:alert:{id}``) as long as the alert.
ALERT_SOURCE = "alert"

# Values that reach AWS APIs are checked against the shapes AWS gives them.
_SHAPES = {
    "cloud.account.id": re.compile(r"\d{12}"),
    "cloud.region": re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d"),
    "instance_id": re.compile(r"i-[0-9a-f]{8,17}"),
    "iam_user": re.compile(r"[\w+=,.@-]{1,64}"),
    "access_key_id": re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}"),
}

# Entity types as rules name them -> the event field they stand for.
_ENTITY_FIELDS = {
    "ip": "source.ip", "source.ip": "source.ip", "user": "user.name", "user.name": "user.name",
    "host": "host.name", "host.name": "host.name", "instance": "instance_id",
    "instance_id": "instance_id", "iam_user": "iam_user", "access_key": "access_key_id",
    "access_key_id": "access_key_id", "bssid": "wifi.bssid", "wifi.bssid": "wifi.bssid",
    "badge": "door.badge_id", "door.badge_id": "door.badge_id",
}


class Enricher:
    """Context for alerts from GeoIP, network labels, AWS, the directories and history."""

    def __init__(self, client: redis.Redis | None, settings: Settings,
                 session_factory: Sessions | None = None, *,
                 history: EntityHistory | None = None, geoip: GeoIP | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.settings = settings
        self.config = settings.enrichment
        self.cache = Cache(client)
        self.geoip = geoip or GeoIP(self.config.maxmind_city_db, self.config.maxmind_asn_db)
        self.networks = NetworkLabels(office=settings.office_cidrs, vpn=self.config.vpn_cidrs,
                                      named=self.config.network_labels)
        self.aws = AwsContext(session_factory, timeout_s=self.config.aws_timeout_s)
        self.badges, self.access_points = from_settings(settings)
        retention_s = int(getattr(getattr(settings, "events", None), "retention_hours", 72)) * 3600
        self.history = history if history is not None else default_history(client, retention_s)
        self.clock = clock

    # --- entry points ----------------------------------------------------------------------

    def for_alert(self, alert: Any) -> dict[str, Any]:
        """The enrichment of ``alert`` (an :class:`core.alerts.Alert`): computed on the first
        call and kept with the alert, so updates and other processes show the same context."""
        stored = self.cache.get(ALERT_SOURCE, alert.id)
        if isinstance(stored, dict):
            return stored
        fields = dict(alert.context)
        fields.setdefault("event.dataset", alert.dataset)
        result = self.enrich(fields, alert.entity)
        self.cache.put(ALERT_SOURCE, alert.id, result, ALERT_TTL_S)
        return result

    def labels_for(self, alert: Any) -> dict[str, str]:
        """:meth:`for_alert` as label -> text, the mapping ``bot.blocks`` shows under
        ``alert.context["enrichment"]``."""
        return dict(summary_lines(self.for_alert(alert)))

    def enrich(self, alert_context: Mapping[str, Any], entity: Mapping[str, Any]) -> dict[str, Any]:
        """Everything the sources know about the alert's entity and context fields."""
        result: dict[str, Any] = {"unavailable": {}}
        if not self.config.enabled:
            return result
        fields = _fields(alert_context, entity)
        ip = _ip(fields.get("source.ip"))
        if ip:
            result["ip"] = ip
            self._run(result, "network", lambda: self.networks.match(ip))
            self._run(result, "geoip", lambda: self._cached(
                "geoip", f"{self.geoip.version}|{ip}", self.config.geoip_ttl_s,
                lambda: self.geoip.lookup(ip)))
        self._aws(result, fields)
        if any(fields.get(f) for f in ("door.badge_id", "user.email", "user.id")) or (
                fields.get("event.dataset") == "door" and fields.get("user.name")):
            if self.badges.entries:
                self._run(result, "badge", lambda: self.badges.match(fields))
            else:
                result["unavailable"]["badge"] = "no badge directory in the configuration"
        if fields.get("wifi.bssid") or fields.get("wifi.ssid") is not None:
            if self.access_points.configured:
                self._run(result, "access_point", lambda: self.access_points.match(fields))
            else:
                result["unavailable"]["access_point"] = ("no authorized-AP inventory in the "
                                                         "configuration")
        self._histories(result, fields, ip)
        return result

    # --- sources ---------------------------------------------------------------------------

    def _aws(self, result: dict[str, Any], fields: dict[str, Any]) -> None:
        account = str(fields.get("cloud.account.id") or "")
        if not _SHAPES["cloud.account.id"].fullmatch(account):
            return
        region = str(fields.get("cloud.region") or self.settings.aws.default_region)
        if not _SHAPES["cloud.region"].fullmatch(region):
            region = self.settings.aws.default_region
        ttl = self.config.aws_ttl_s
        found: dict[str, Any] = {}
        alias = self._run(result, "aws.account", lambda: self._cached(
            "aws.account", account, ttl, lambda: self.aws.account_alias(account, region)),
            store=False)
        if alias is not None:
            found["account_alias"] = alias.get("alias", "")
        user = _shaped(fields, "iam_user")
        if not user and fields.get("aws.cloudtrail.user_identity.type") == "IAMUser":
            user = _shaped({"iam_user": fields.get("user.name")}, "iam_user")
        key_id = _shaped(fields, "access_key_id")
        if not user and key_id:
            user = self._run(result, "aws.access_key", lambda: self._cached(
                "aws.key", f"{account}|{key_id}", ttl,
                lambda: self.aws.user_for_key(account, region, key_id)), store=False) or ""
        if user:
            details = self._run(result, "aws.iam_user", lambda: self._cached(
                "aws.user", f"{account}|{user}", ttl,
                lambda: self.aws.iam_user(account, region, user)), store=False)
            if details is not None:
                found["iam_user"] = details
        instance = _shaped(fields, "instance_id")
        if instance:
            details = self._run(result, "aws.instance", lambda: self._cached(
                "aws.instance", f"{account}|{region}|{instance}", ttl,
                lambda: self.aws.instance(account, region, instance)), store=False)
            if details is not None:
                found["instance"] = details
        if found:
            result["aws"] = {"account": account, "region": region, **found}

    def _histories(self, result: dict[str, Any], fields: dict[str, Any], ip: str) -> None:
        wanted = {"source.ip": ip, "user.name": fields.get("user.name"),
                  "host.name": fields.get("host.name")}
        since = self.clock() - DAY_S
        found: dict[str, Any] = {}
        for field, value in wanted.items():
            if not value or not isinstance(value, str):
                continue
            def fetch(f: str = field, v: str = value) -> Any:
                return self._cached("history", f"{f}={v}", self.config.history_ttl_s,
                                    lambda: self.history.history(f, v, since))

            answer = self._run(result, "history", fetch, store=False)
            if answer is None:
                break  # one reason is enough: the store is down or missing for every field
            found[field] = answer
        if found:
            result["history"] = found

    # --- machinery -------------------------------------------------------------------------

    def _run(self, result: dict[str, Any], name: str, fetch: Callable[[], Any], *,
             store: bool = True) -> Any:
        """Run one source; on failure note why under ``unavailable`` and return None."""
        started = time.perf_counter()
        try:
            value = fetch()
        except SourceUnavailable as exc:
            result["unavailable"][name] = str(exc)
            metrics.enrichment_unavailable(name)
            return None
        except Exception as exc:  # a source's bug must not stop the alert
            log.exception("enrichment source %s failed", name)
            result["unavailable"][name] = f"{type(exc).__name__}: {exc}"
            metrics.enrichment_unavailable(name)
            return None
        finally:
            metrics.enrichment_seconds(name.split(".")[0], time.perf_counter() - started)
        if store and value is not None:
            result[name] = value
        return value

    def _cached(self, source: str, lookup: str, ttl_s: int, fetch: Callable[[], Any]) -> Any:
        hit = self.cache.get(source, lookup)
        if hit is not None:
            if isinstance(hit, dict) and "_unavailable" in hit:
                raise SourceUnavailable(hit["_unavailable"])
            return hit.get("v") if isinstance(hit, dict) else hit
        try:
            value = fetch()
        except SourceUnavailable as exc:
            # Remember a failure briefly, so a storm of alerts does not hammer a denied API.
            self.cache.put(source, lookup, {"_unavailable": str(exc)}, self.config.failure_ttl_s)
            raise
        self.cache.put(source, lookup, {"v": value}, ttl_s)
        return value


def _fields(context: Mapping[str, Any], entity: Mapping[str, Any]) -> dict[str, Any]:
    fields = dict(context)
    target = _ENTITY_FIELDS.get(str(entity.get("type", "")))
    value = entity.get("value")
    if target and isinstance(value, str) and value:
        fields.setdefault(target, value)
    return fields


def _ip(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return edge.ip_text(value.strip()) or ""


def _shaped(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if isinstance(value, str) and _SHAPES[name].fullmatch(value):
        return value
    return ""


def stored_labels(client: redis.Redis, alert_id: str) -> dict[str, str]:
    """The enrichment already computed for an alert, as label -> text (empty if none yet).

    For processes that redraw an alert message (the Slack listeners) without enriching:
    they show what the notifier computed, and never call GeoIP or AWS themselves.
    """
    stored = Cache(client).get(ALERT_SOURCE, alert_id)
    return dict(summary_lines(stored)) if isinstance(stored, dict) else {}

