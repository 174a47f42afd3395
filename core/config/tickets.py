"""``tickets:``: where the Create ticket button files an alert (Jira Cloud)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from socbot.core.config._common import Section

PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]{1,9}")


class JiraSettings(Section):
    """Jira Cloud (REST v3). The API token comes from the variable ``token_env`` names."""

    url: str = ""  # https://example.atlassian.net
    project_key: str = ""  # SEC
    issue_type: str = "Task"
    email: str = ""  # the account the API token belongs to
    token_env: str = "JIRA_API_TOKEN"

    @property
    def enabled(self) -> bool:
        """True when tickets can be filed (the token is checked when one is)."""
        return bool(self.url and self.project_key and self.email)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        site = value.rstrip("/")
        # http only on loopback (a local proxy or test server): the token must not travel
        # in clear text.
        if value and not (re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d+)?", site) or
                          re.fullmatch(r"http://(127\.0\.0\.1|localhost)(:\d+)?", site)):
            raise ValueError(f"{value!r}: write the site's https address, such as "
                             "https://example.atlassian.net (no path)")
        return value.rstrip("/")

    @field_validator("project_key")
    @classmethod
    def _project_key(cls, value: str) -> str:
        if value and not PROJECT_KEY.fullmatch(value):
            raise ValueError(f"{value!r} is not a Jira project key; write it as shown in "
                             "issue keys, such as SEC")
        return value


class TicketSettings(Section):
    """Ticketing: Jira for now."""

    jira: JiraSettings = Field(default_factory=JiraSettings)
