"""Secrets and endpoints, read from the environment only (never from the YAML file)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from socbot.core.errors import ConfigError


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
