"""The section the collectors read: ``collectors:`` (one part per source, and the spool)."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from socbot.core.config._common import Section


class CloudTrailCollector(Section):
    """``socbot collect cloudtrail``: the SQS queue and the eventID dedup window."""

    sqs_queue_url: str = ""
    dedup_window_s: int = Field(default=86400, ge=60, le=30 * 86400)
    visibility_timeout_s: int = Field(default=300, ge=30, le=12 * 3600)

    @field_validator("sqs_queue_url")
    @classmethod
    def _queue_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not a queue URL; copy the URL from the SQS console "
                             "(https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), not its name or ARN")
        return value


DOOR_EXPORT_FIELDS = ("@timestamp", "door.site", "door.id", "door.name", "door.badge_id",
                      "door.result", "door.reason", "user.name", "user.email", "user.id",
                      "event.kind")


class DoorExport(Section):
    """How to read a door-access export (CSV or JSON Lines): our field -> the export's column."""

    columns: dict[str, str] = Field(default_factory=lambda: {
        "@timestamp": "time", "door.name": "door", "door.badge_id": "badge",
        "user.name": "person", "door.result": "result", "door.reason": "reason"})
    granted: list[str] = Field(default_factory=lambda: [
        "granted", "access granted", "allowed", "success", "true", "1"])
    forced_open: list[str] = Field(default_factory=lambda: ["forced open", "door forced open"])
    held_open: list[str] = Field(default_factory=lambda: ["held open", "door held open"])
    time_format: str = ""
    timezone: str = "UTC"

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(DOOR_EXPORT_FIELDS))
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; map these fields to your export's "
                             f"column names: {', '.join(DOOR_EXPORT_FIELDS)}")
        if "@timestamp" not in value or "door.result" not in value and "event.kind" not in value:
            raise ValueError("map at least '@timestamp' and 'door.result' (or 'event.kind') to "
                             "columns of the export")
        return value


class DoorCollector(Section):
    """``socbot collect door``: the webhook receiver and the export importer."""

    listen: str = "127.0.0.1:8088"
    site: str = ""
    max_body_bytes: int = Field(default=65536, ge=1024, le=16 << 20)
    signature_tolerance_s: int = Field(default=300, ge=10, le=3600)
    idle_timeout_s: float = Field(default=10, ge=1, le=300)
    request_timeout_s: float = Field(default=30, ge=1, le=600)
    max_connections: int = Field(default=64, ge=1, le=4096)
    backlog: int = Field(default=128, ge=16, le=4096)
    export: DoorExport = Field(default_factory=DoorExport)


class WifiCollector(Section):
    """``socbot collect wifi``: this sensor's name and site, and how to scan."""

    sensor: str = ""
    site: str = ""
    interface: str = "wlan0"
    tool: str = "iw"
    interval_s: float = Field(default=60, ge=5, le=86400)

    @field_validator("tool")
    @classmethod
    def _tool(cls, value: str) -> str:
        if value not in ("iw", "nmcli"):
            raise ValueError(f"unknown scan tool {value!r}; write iw or nmcli (airodump-ng and "
                             "Kismet are read from their files with --path)")
        return value

    @field_validator("interface")
    @classmethod
    def _interface(cls, value: str) -> str:
        if not value or len(value) > 15 or not all(c.isalnum() or c in "-_." for c in value):
            raise ValueError(f"{value!r} is not a network interface name; write one such as "
                             "wlan0 (see 'iw dev')")
        return value


class ListenCollector(Section):
    """``socbot collect listen``: agents' syslog, Forward and HTTP intake, and its limits.

    An empty address leaves that protocol off. Secrets come from the environment:
    ``SOCBOT_FORWARD_SHARED_KEY`` (Forward handshake) and ``SOCBOT_LISTEN_TOKEN`` (HTTP).
    """

    syslog_tcp: str = ""
    syslog_tls: str = ""
    syslog_udp: str = ""
    forward: str = ""
    http: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    max_connections: int = Field(default=1000, ge=1, le=100_000)
    max_connections_per_peer: int = Field(default=100, ge=1, le=100_000)
    max_frame_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    idle_timeout_s: float = Field(default=60, ge=1, le=3600)
    allowed_peers: list[str] = Field(default_factory=list)
    peer_names: dict[str, str] = Field(default_factory=dict)
    routes: dict[str, str] = Field(default_factory=dict)

    @field_validator("allowed_peers")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a network; write one such as "
                                 "10.0.0.0/8 or 192.0.2.7") from None
        return value

    @field_validator("routes")
    @classmethod
    def _routes(cls, value: dict[str, str]) -> dict[str, str]:
        known = ("secure", "cloudtrail", "door", "door:unifi", "door:verkada", "door:kisi")
        for pattern, source in value.items():
            if source not in known:
                raise ValueError(f"route {pattern!r}: unknown source {source!r}; write one of "
                                 f"{', '.join(known)}")
        return value


class SpoolSettings(Section):
    """The on-disk buffer a collector writes to while Redis is unreachable."""

    dir: str = ""
    max_bytes: int = Field(default=256 << 20, ge=1 << 20, le=64 << 30)


class CollectorSettings(Section):
    """Settings of the collectors, one section per source, and their spool."""

    cloudtrail: CloudTrailCollector = Field(default_factory=CloudTrailCollector)
    door: DoorCollector = Field(default_factory=DoorCollector)
    wifi: WifiCollector = Field(default_factory=WifiCollector)
    listen: ListenCollector = Field(default_factory=ListenCollector)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
