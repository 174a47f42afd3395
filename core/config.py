"""Configuration: one YAML file (``SOCBOT_CONFIG``) plus secrets from the environment.

Validated once at start-up. A mistake stops the bot with a message that names the file, the key
and what to write instead, e.g.::

    socbot.yml: approvals.expire_minutes: Input should be a valid integer (got 'soon').
    Fix: a number of minutes, such as 30.

Every key is optional; an empty file (or none at all) gives a bot that writes alerts to the
terminal. The full reference is in README.md ("Configuration reference").
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from socbot.core.alerts import SEVERITIES


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and how to fix it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Routing(_Section):
    """Which channel an alert goes to: rule, account, dataset, severity, then default."""

    default: str = "#security-alerts"
    by_severity: dict[str, str] = Field(default_factory=dict)
    by_dataset: dict[str, str] = Field(default_factory=dict)
    by_rule: dict[str, str] = Field(default_factory=dict)
    by_account: dict[str, str] = Field(default_factory=dict)

    @field_validator("by_account")
    @classmethod
    def _account_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for account in value:
            if not (len(str(account)) == 12 and str(account).isdigit()):
                raise ValueError(f"{account!r} is not an AWS account id; write the 12 digits "
                                 "in quotes, such as '123456789012'")
        return value

    @field_validator("by_severity")
    @classmethod
    def _known_severities(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SEVERITIES))
        if unknown:
            raise ValueError(f"unknown severity {unknown[0]!r}; use one of {', '.join(SEVERITIES)}")
        return value


class VerifyUser(_Section):
    """"Was this you?": DM the person an alert names and let them confirm or deny it."""

    # rule id -> alert context field naming the person (user.name, user.email, ...)
    rules: dict[str, str] = Field(default_factory=dict)
    # person (as the field names them) -> Slack user id; otherwise users.lookupByEmail
    users: dict[str, str] = Field(default_factory=dict)
    email_domain: str = ""  # "example.com": look up "alice" as alice@example.com
    timeout_minutes: int = Field(default=120, ge=1, le=7 * 24 * 60)
    quiet_hours: int = Field(default=21, ge=1, le=30 * 24)

    @field_validator("users")
    @classmethod
    def _user_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for name, user in value.items():
            if not (user[:1] in ("U", "W") and user[1:].isalnum()):
                raise ValueError(f"{name}: {user!r} is not a Slack user id (U0123ABCD); copy it "
                                 "from the person's profile, 'Copy member ID'")
        return value


class SlackSettings(_Section):
    """Slack behaviour; tokens come from the environment, never from this file."""

    routing: Routing = Field(default_factory=Routing)
    oncall_usergroup: str = ""
    # severity -> minutes an alert may stay unacknowledged before the on-call group is paged
    # in its thread (again every as many minutes, at most escalation_repeats times)
    escalate_after_minutes: dict[str, int] = Field(
        default_factory=lambda: {"critical": 10, "high": 30, "medium": 120})
    escalation_repeats: int = Field(default=3, ge=1, le=20)
    mute_hours: list[int] = Field(default_factory=lambda: [1, 24], min_length=1, max_length=4)
    verify_user: VerifyUser = Field(default_factory=VerifyUser)

    @field_validator("oncall_usergroup")
    @classmethod
    def _usergroup(cls, value: str) -> str:
        if value and not (value.startswith("S") and value[1:].isalnum()):
            raise ValueError(f"{value!r} is not a user group id; write the group's id "
                             "(S0123ABCD, from the group's page), not its @handle")
        return value

    @field_validator("escalate_after_minutes")
    @classmethod
    def _escalation(cls, value: dict[str, int]) -> dict[str, int]:
        for severity, minutes in value.items():
            if severity not in SEVERITIES:
                raise ValueError(f"unknown severity {severity!r}; use one of "
                                 f"{', '.join(SEVERITIES)}")
            if not 1 <= minutes <= 7 * 24 * 60:
                raise ValueError(f"{severity}: {minutes} minutes; write 1 to 10080 "
                                 "(leave the severity out to never escalate it)")
        return value

    @field_validator("mute_hours")
    @classmethod
    def _mute_hours(cls, value: list[int]) -> list[int]:
        for hours in value:
            if not 1 <= hours <= 30 * 24:
                raise ValueError(f"{hours}: a mute button lasts 1 to 720 hours")
        return value


class EventRetention(_Section):
    """Recent events kept in Redis for ``/soc recent`` and ``/soc search``."""

    retention_hours: int = Field(default=72, ge=1, le=90 * 24)
    max_events: int = Field(default=2_000_000, ge=1000, le=100_000_000)


class Approvals(_Section):
    """Who may approve remediation, and for how long a request stays open."""

    approvers: list[str] = Field(default_factory=list)
    approver_usergroup: str = ""
    expire_minutes: int = Field(default=30, ge=1, le=24 * 60)

    @field_validator("approvers")
    @classmethod
    def _user_ids(cls, value: list[str]) -> list[str]:
        for user in value:
            if not (user[:1] in ("U", "W") and user[1:].isalnum()):
                raise ValueError(
                    f"{user!r} is not a Slack user id; approvers are checked by id (U0123ABCD), "
                    "never by name: copy it from the user's profile, 'Copy member ID'"
                )
        return value


_IAM_ROLE_NAME = re.compile(r"([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}", re.ASCII)
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*", re.ASCII)


def _role_name(value: str) -> str:
    if value and not _IAM_ROLE_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an IAM role name; write the name only, such as "
                         "socbot-remediation (not its ARN)")
    return value


def _env_name(value: str) -> str:
    if value and not _ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name; write one such as "
                         "SOCBOT_AWS_EXTERNAL_ID (the ExternalId itself is a secret: keep it "
                         "in the environment, not in this file)")
    return value


class AwsAccount(_Section):
    """How to reach one account: its role name and the variable holding its ExternalId."""

    role_name: str = ""
    external_id_env: str = ""

    @field_validator("role_name")
    @classmethod
    def _role(cls, value: str) -> str:
        return _role_name(value)

    @field_validator("external_id_env")
    @classmethod
    def _env(cls, value: str) -> str:
        return _env_name(value)


class AwsSettings(AwsAccount):
    """How playbooks reach AWS: a role assumed in the alert's account, or the local credentials.

    ``accounts`` overrides ``role_name`` and ``external_id_env`` per account id (the same
    fields and checks, inherited from :class:`AwsAccount`).
    """

    external_id_env: str = "SOCBOT_AWS_EXTERNAL_ID"
    default_region: str = "us-east-1"
    accounts: dict[str, AwsAccount] = Field(default_factory=dict)

    @field_validator("accounts")
    @classmethod
    def _account_ids(cls, value: dict[str, AwsAccount]) -> dict[str, AwsAccount]:
        for account in value:
            if not (len(account) == 12 and account.isascii() and account.isdigit()):
                raise ValueError(f"{account!r} is not an AWS account id; write the 12 digits "
                                 "in quotes, such as '123456789012'")
        return value


class PlaybookSettings(_Section):
    """What the remediation playbooks read besides the alert (README: configuration)."""

    # A run that takes longer fails (per playbook: timeouts.<name>).
    timeout_s: float = Field(default=120, gt=0, le=3600)
    timeouts: dict[str, float] = Field(default_factory=dict)
    # quarantine-instance: the security group (one per VPC) swapped onto the instance.
    isolation_group_name: str = Field(default="socbot-isolation", min_length=1, max_length=255)
    # block-ip-nacl and quarantine-instance: network ACL rule numbers socbot may use. Rules are
    # evaluated lowest first, so these must be below the numbers of your allow rules.
    nacl_rule_range: tuple[int, int] = (1, 99)
    # restart-cloudtrail-logging: known-good event selectors per trail name, restored when a
    # trail's selectors were emptied; a trail not listed gets all management events.
    trail_event_selectors: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    # ssm-triage: how long to wait for the command's output.
    ssm_wait_s: float = Field(default=60, gt=0, le=600)
    # `socbot playbooks run --break-glass`: run without an approval (audited). Off by default.
    allow_break_glass: bool = False

    @field_validator("nacl_rule_range")
    @classmethod
    def _rule_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 32766:
            raise ValueError("write two rule numbers [low, high] with 1 <= low <= high <= "
                             "32766, below your own allow rules, such as [1, 99]")
        return value


class EnrichmentSettings(_Section):
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
            _check_cidr(cidr)
        return value

    @field_validator("network_labels")
    @classmethod
    def _labelled_cidrs(cls, value: dict[str, str]) -> dict[str, str]:
        for cidr in value:
            _check_cidr(cidr)
        return value


def _check_cidr(cidr: str) -> None:
    try:
        ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ValueError(f"{cidr!r} is not a network; write an address range such as "
                         "10.20.0.0/16 or 2001:db8::/32") from None


class RuleSettings(_Section):
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


class DetectionSite(_Section):
    """A site: its time zone, where it is (for travel time), its country and Wi-Fi subnets."""

    timezone: str = "UTC"
    country: str = ""
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    wifi_subnets: list[str] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _time_zone(value)

    @field_validator("wifi_subnets")
    @classmethod
    def _subnets(cls, value: list[str]) -> list[str]:
        for cidr in value:
            _network(cidr)
        return value


class DetectionDoor(_Section):
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
        return _time_zone(value) if value else value


class DetectionPerson(_Section):
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


class DetectionAccessPoint(_Section):
    """One authorized access point: the SSID it broadcasts and its BSSID."""

    ssid: str
    bssid: str

    @field_validator("bssid")
    @classmethod
    def _bssid(cls, value: str) -> str:
        if not _BSSID.fullmatch(value):
            raise ValueError(f"bssid {value!r}: write six hex pairs separated by colons, "
                             "such as 'aa:bb:cc:dd:ee:ff'")
        return value.lower()


class DetectionIpLocation(_Section):
    """Where an address range is: its country and, optionally, coordinates."""

    cidr: str
    country: str
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return _network(value)


class DetectionSettings(_Section):
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

    @field_validator("trusted_accounts")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        for account in value:
            if not (len(account) == 12 and account.isdigit()):
                raise ValueError(f"{account!r} is not an AWS account id; write the 12 digits, "
                                 "quoted, such as '111122223333'")
        return value

    @field_validator("known_bssids")
    @classmethod
    def _bssids(cls, value: list[str]) -> list[str]:
        for bssid in value:
            if not _BSSID.fullmatch(bssid):
                raise ValueError(f"bssid {bssid!r}: write six hex pairs separated by colons, "
                                 "such as 'aa:bb:cc:dd:ee:ff'")
        return [bssid.lower() for bssid in value]

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


_HOURS = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d-(?:[01]\d|2[0-3]):[0-5]\d")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PERSON_STATUSES = ("active", "disabled", "suspended", "terminated")
_BSSID = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")


def _network(cidr: str) -> str:
    try:
        ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ValueError(f"{cidr!r} is not a network; write an address range such as "
                         "10.20.0.0/16 or 2001:db8::/32") from None
    return cidr


def _time_zone(name: str) -> str:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {name!r} is unknown; write an IANA name such as "
                         "'Europe/Berlin' or 'America/New_York'") from None
    return name


class CloudTrailCollector(_Section):
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


class DoorExport(_Section):
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


class DoorCollector(_Section):
    """``socbot collect door``: the webhook receiver and the export importer."""

    listen: str = "127.0.0.1:8088"
    site: str = ""
    max_body_bytes: int = Field(default=65536, ge=1024, le=16 << 20)
    signature_tolerance_s: int = Field(default=300, ge=10, le=3600)
    export: DoorExport = Field(default_factory=DoorExport)


class WifiCollector(_Section):
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


class SpoolSettings(_Section):
    """The on-disk buffer a collector writes to while Redis is unreachable."""

    dir: str = ""
    max_bytes: int = Field(default=256 << 20, ge=1 << 20, le=64 << 30)


class CollectorSettings(_Section):
    """Settings of the collectors, one section per source, and their spool."""

    cloudtrail: CloudTrailCollector = Field(default_factory=CloudTrailCollector)
    door: DoorCollector = Field(default_factory=DoorCollector)
    wifi: WifiCollector = Field(default_factory=WifiCollector)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)


class Settings(_Section):
    """The whole configuration file."""

    slack: SlackSettings = Field(default_factory=SlackSettings)
    approvals: Approvals = Field(default_factory=Approvals)
    aws: AwsSettings = Field(default_factory=AwsSettings)
    playbooks: PlaybookSettings = Field(default_factory=PlaybookSettings)
    rules: dict[str, RuleSettings] = Field(default_factory=dict)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    events: EventRetention = Field(default_factory=EventRetention)
    office_cidrs: list[str] = Field(default_factory=list)
    approved_amis: list[str] = Field(default_factory=list)
    enrichment: EnrichmentSettings = Field(default_factory=EnrichmentSettings)
    collectors: CollectorSettings = Field(default_factory=CollectorSettings)

    @field_validator("office_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value


@dataclass(frozen=True)
class Secrets:
    """Secrets and endpoints, read from the environment only."""

    slack_bot_token: str = ""
    slack_app_token: str = ""
    slack_signing_secret: str = ""
    slack_api_url: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Secrets:
        """Read ``SLACK_BOT_TOKEN``, ``SLACK_APP_TOKEN``, ``SLACK_SIGNING_SECRET``,
        and ``SLACK_API_URL`` (a Web API base URL, for tests and proxies). The AWS ExternalId
        is read by the session factory from the variable ``aws.external_id_env`` names."""
        env = dict(os.environ) if env is None else env
        return cls(
            slack_bot_token=env.get("SLACK_BOT_TOKEN", ""),
            slack_app_token=env.get("SLACK_APP_TOKEN", ""),
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
            slack_api_url=env.get("SLACK_API_URL", ""),
        )

    @property
    def slack_enabled(self) -> bool:
        """True when alerts go to Slack rather than to the terminal."""
        return bool(self.slack_bot_token)

    def check_slack(self) -> None:
        """Fail with what to set when the Slack credentials are incomplete."""
        if not self.slack_bot_token:
            return
        if not self.slack_bot_token.startswith("xoxb-"):
            raise ConfigError("SLACK_BOT_TOKEN must be the bot token (xoxb-...), "
                              "from the app's 'OAuth & Permissions' page")
        if self.slack_app_token and not self.slack_app_token.startswith("xapp-"):
            raise ConfigError("SLACK_APP_TOKEN must be an app-level token (xapp-...) with "
                              "connections:write, from 'Basic Information > App-Level Tokens'")
        if not self.slack_app_token and not self.slack_signing_secret:
            raise ConfigError("set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET "
                              "(HTTP mode): without one Slack's clicks cannot reach the bot")


_HINTS = {
    "extra_forbidden": "remove it or check its spelling against the configuration reference",
    "int_parsing": "write a whole number",
    "bool_parsing": "write true or false",
    "list_type": "write a YAML list, one '- item' per line",
    "dict_type": "write a YAML mapping of 'key: value' lines",
    "string_type": "write text (quote it if it starts with # or @)",
}


def _describe(path: str, error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    shown = "" if error["type"] == "missing" or isinstance(got, dict) else f" (got {got!r})"
    hint = _HINTS.get(error["type"], "")
    return f"{path}: {key}: {message}{shown}." + (f" Fix: {hint}." if hint else "")


def load(path: str | Path | None = None) -> Settings:
    """Load and validate the configuration file (default ``$SOCBOT_CONFIG``; none is fine)."""
    chosen = path if path is not None else os.environ.get("SOCBOT_CONFIG")
    if not chosen:
        return Settings()
    file = Path(chosen)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the configuration file: {exc.strerror}. "
                          "Fix SOCBOT_CONFIG or --config to name a readable YAML file.") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{file}:{where}: not valid YAML: "
                          f"{getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of sections "
                          "(slack:, approvals:, aws:, rules:, ...)")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(str(file), e) for e in exc.errors())) from exc


def host_port(text: str, what: str, example: str = "0.0.0.0:3000") -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:3000`` too) or raise ConfigError naming ``what``."""
    host, _, port = text.strip().rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{what} {text!r}: write HOST:PORT, such as {example}")
    return host.strip("[]") or "0.0.0.0", int(port)


def route(settings: Settings, *, rule_id: str, dataset: str, severity: str,
          account: str = "") -> str:
    """The channel for an alert: by rule, account, dataset, severity, then the default."""
    routing = settings.slack.routing
    return (routing.by_rule.get(rule_id) or (account and routing.by_account.get(account))
            or routing.by_dataset.get(dataset) or routing.by_severity.get(severity)
            or routing.default)
