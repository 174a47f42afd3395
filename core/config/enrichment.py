"""The section the enrichers read: ``enrichment:`` (network labels, GeoIP databases, caching)."""

from __future__ import annotations

from pydantic import Field, field_validator

from socbot.core.config._common import Section, network


class EnrichmentSettings(Section):
    """Context added to an alert before it is posted (``enrichment/``): network labels, GeoIP
    databases and how long each source's answers are cached in Redis."""

    enabled: bool = True
    vpn_cidrs: list[str] = Field(default_factory=list)
    network_labels: dict[str, str] = Field(default_factory=dict)
    maxmind_city_db: str = ""
    maxmind_asn_db: str = ""
    geoip_ttl_s: int = Field(default=7 * 86400, ge=0)
    aws_ttl_s: int = Field(default=900, ge=0)
    directory_ttl_s: int = Field(default=3600, ge=0)
    history_ttl_s: int = Field(default=60, ge=0)
    failure_ttl_s: int = Field(default=60, ge=0)
    aws_timeout_s: float = Field(default=5.0, gt=0, le=60)

    @field_validator("vpn_cidrs")
    @classmethod
    def _vpn_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            network(cidr)
        return value

    @field_validator("network_labels")
    @classmethod
    def _labelled_cidrs(cls, value: dict[str, str]) -> dict[str, str]:
        for cidr in value:
            network(cidr)
        return value


class EventRetention(Section):
    """Recent events kept in Redis for ``/soc recent`` and ``/soc search`` (``events:``)."""

    retention_hours: int = Field(default=72, ge=1, le=90 * 24)
    max_events: int = Field(default=2_000_000, ge=1000, le=100_000_000)
