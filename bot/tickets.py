"""Create ticket: file an alert in Jira Cloud (REST v3), once per alert, and link the issue
in the alert's thread.

One ticket per alert, however often the button is clicked: ``{soc}:ticket:{alert}`` is set to
``creating`` (SET NX) before the call and to the issue key after it; a click meanwhile is told
which ticket exists or that one is being filed. The issue carries the labels ``socbot`` and
``socbot-{alert id}``, so it can be found from the alert in Jira as well.

Example::

    jira = JiraClient(settings.tickets.jira, token=os.environ["JIRA_API_TOKEN"])
    key = jira.create(summary="SSH brute force from 203.0.113.7", description="...",
                      labels=["socbot", "socbot-A1B2"])
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from typing import Any

from socbot.core.config import JiraSettings

ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{1,9}-\d{1,9}")
SUMMARY_MAX = 255
DESCRIPTION_MAX = 30_000


class TicketError(Exception):
    """Jira refused or could not be reached; the message says what to fix."""


class JiraClient:
    """Create issues with Jira Cloud's REST API v3 (basic auth: account email + API token)."""

    def __init__(self, config: JiraSettings, token: str, timeout_s: float = 10.0) -> None:
        if not token:
            raise TicketError(f"Jira is configured but {config.token_env} is not set; create "
                              "an API token at id.atlassian.com and export it")
        self.config = config
        self.timeout_s = timeout_s
        pair = f"{config.email}:{token}".encode()
        self._auth = "Basic " + base64.b64encode(pair).decode()

    def create(self, *, summary: str, description: str, labels: list[str]) -> str:
        """File an issue; return its key (``SEC-12``)."""
        fields = {
            "project": {"key": self.config.project_key},
            "issuetype": {"name": self.config.issue_type},
            # Jira refuses a summary with a line break or over 255 characters.
            "summary": " ".join(summary.split())[:SUMMARY_MAX],
            "description": _document(description[:DESCRIPTION_MAX]),
            "labels": labels,
        }
        answer = self._post("/rest/api/3/issue", {"fields": fields})
        key = str(answer.get("key", ""))
        if not ISSUE_KEY.fullmatch(key):
            raise TicketError(f"Jira answered without an issue key: {str(answer)[:200]}")
        return key

    def browse_url(self, key: str) -> str:
        """The issue's page."""
        return f"{self.config.url}/browse/{key}"

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.config.url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": self._auth, "Accept": "application/json",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                found = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise TicketError(_jira_error(exc)) from exc
        except (OSError, ValueError) as exc:
            raise TicketError(f"cannot reach Jira at {self.config.url}: {exc}") from exc
        return found if isinstance(found, dict) else {}


def _document(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document (v3 descriptions are ADF, not strings)."""
    paragraphs = [p for p in text.split("\n") if p.strip()] or ["(no details)"]
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs]}


def _jira_error(exc: urllib.error.HTTPError) -> str:
    try:
        found = json.loads(exc.read() or b"{}")
    except ValueError:
        found = {}
    details = "; ".join([*found.get("errorMessages", []),
                         *(f"{k}: {v}" for k, v in (found.get("errors") or {}).items())])
    advice = {401: "check tickets.jira.email and the API token",
              403: "the account may not create issues in this project",
              404: "check tickets.jira.url and project_key"}.get(exc.code, "")
    return "; ".join(x for x in (f"Jira answered {exc.code}", details[:300], advice) if x)


def ticket_text(alert: Any) -> tuple[str, str]:
    """The issue's summary and description for an alert (plain text: Jira escapes it)."""
    entity = f"{alert.entity.get('type', '')} {alert.entity.get('value', '')}".strip()
    summary = f"[{alert.severity.upper()}] {alert.title}"
    lines = [f"socbot alert {alert.id}: {alert.title}",
             f"Rule: {alert.rule_id} · severity {alert.severity} · entity {entity or 'none'}",
             f"{alert.count} event(s), first seen {alert.first_seen:.0f}, last seen "
             f"{alert.last_seen:.0f} (Unix time)"]
    lines += [f"{key}: {value}" for key, value in list(alert.context.items())[:30]
              if key != "enrichment"]
    if alert.runbook:
        lines.append(f"Runbook: {alert.runbook}")
    return summary, "\n".join(lines)
