"""The whole file: :class:`Settings` (one field per section) and :func:`load`."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from socbot.core.config._common import Section, network
from socbot.core.config.aws import AwsSettings, PlaybookSettings
from socbot.core.config.collectors import CollectorSettings
from socbot.core.config.detections import DetectionSettings, RuleSettings
from socbot.core.config.enrichment import EnrichmentSettings, EventRetention
from socbot.core.config.slack import Approvals, SlackSettings
from socbot.core.config.tickets import TicketSettings
from socbot.core.errors import ConfigError


class Settings(Section):
    """The whole configuration file.

    ``office_cidrs`` and ``approved_amis`` sit at the top level because both the detection
    rules and the playbooks read them.
    """

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
    tickets: TicketSettings = Field(default_factory=TicketSettings)

    @field_validator("office_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            network(cidr)
        return value


_HINTS = {
    "extra_forbidden": "remove it or check its spelling against the configuration reference",
    "int_parsing": "write a whole number",
    "bool_parsing": "write true or false",
    "list_type": "write a YAML list, one '- item' per line",
    "dict_type": "write a YAML mapping of 'key: value' lines",
    "string_type": "write text (quote it if it starts with # or @)",
}


def _describe(path: str, error: ErrorDetails) -> str:
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
