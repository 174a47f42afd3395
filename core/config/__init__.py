"""Configuration: one YAML file (``SOCBOT_CONFIG``) plus secrets from the environment.

Validated once at start-up. A mistake stops the bot with a message that names the file, the key
and what to write instead, e.g.::

    socbot.yml: approvals.expire_minutes: Input should be a valid integer (got 'soon').
    Fix: a number of minutes, such as 30.

Every key is optional; an empty file (or none at all) gives a bot that writes alerts to the
terminal. The full reference is in README.md ("Configuration reference").

One module per reader of a section, so a new section goes beside the code that reads it:

- ``slack``: ``slack:`` (routing, escalation, mutes, "was this you?") and ``approvals:``
- ``aws``: ``aws:`` and ``playbooks:``, read by the playbooks
- ``detections``: ``rules:`` and ``detection:``, read by the detection engine and rules
- ``collectors``: ``collectors:``, one part per source
- ``enrichment``: ``enrichment:``, and ``events:`` (the recent-event store)
- ``settings``: :class:`Settings`, the whole file, and :func:`load`
- ``environment``: :class:`Secrets`, from the environment only
"""

from socbot.core.config._common import host_port
from socbot.core.config.aws import AwsAccount, AwsSettings, PlaybookSettings
from socbot.core.config.collectors import (
    DOOR_EXPORT_FIELDS,
    CloudTrailCollector,
    CollectorSettings,
    DoorCollector,
    DoorExport,
    ListenCollector,
    SpoolSettings,
    WifiCollector,
)
from socbot.core.config.detections import (
    DetectionAccessPoint,
    DetectionDoor,
    DetectionIntelFeed,
    DetectionIpLocation,
    DetectionPerson,
    DetectionSettings,
    DetectionSite,
    RuleSettings,
)
from socbot.core.config.enrichment import EnrichmentSettings, EventRetention
from socbot.core.config.environment import Secrets
from socbot.core.config.settings import Settings, load
from socbot.core.config.slack import (
    Approvals,
    Rollup,
    Routing,
    SlackSettings,
    VerifyUser,
    WorkspaceSettings,
)
from socbot.core.config.tickets import JiraSettings, TicketSettings
from socbot.core.errors import ConfigError

__all__ = [
    "DOOR_EXPORT_FIELDS", "Approvals", "AwsAccount", "AwsSettings", "CloudTrailCollector",
    "CollectorSettings", "ConfigError", "DetectionAccessPoint", "DetectionDoor",
    "DetectionIntelFeed", "DetectionIpLocation", "DetectionPerson", "DetectionSettings",
    "DetectionSite",
    "DoorCollector", "DoorExport", "EnrichmentSettings", "EventRetention", "ListenCollector",
    "PlaybookSettings",
    "Rollup", "Routing", "RuleSettings", "Secrets", "Settings", "SlackSettings",
    "SpoolSettings", "VerifyUser", "WifiCollector", "WorkspaceSettings", "host_port", "load",
    "JiraSettings", "TicketSettings",
]
