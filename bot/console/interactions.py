"""What the page does, sent to the bot as Slack sends it: signed, to its HTTP endpoint.

Each function builds the payload Slack would build for a person's click, modal submission,
``/soc`` command or visit to App Home, signs it with the signing secret (``v0=`` HMAC-SHA256
of ``v0:{timestamp}:{body}``) and POSTs it. The bot's answer is applied to the workspace the
way Slack applies it: a submission's ``response_action`` updates or closes the modal or shows
field errors; a command's answer is shown to the person alone.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from slack_sdk.signature import SignatureVerifier

from socbot.bot.console.workspace import BOT_USER, TEAM, Person, Workspace


@dataclass(frozen=True)
class Answer:
    """The bot's HTTP answer."""

    status: int
    body: str

    def json(self) -> dict[str, Any]:
        """The body as JSON; empty when it is not."""
        try:
            value = json.loads(self.body) if self.body.strip() else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass
class Bot:
    """The bot's HTTP endpoint and the secret Slack signs with."""

    url: str
    secret: str
    workspace: Workspace
    console_url: str = ""  # base of response_url

    def post(self, body: str, content_type: str) -> Answer:
        """POST ``body`` signed as Slack signs it."""
        ts = str(int(time.time()))
        signature = SignatureVerifier(self.secret).generate_signature(timestamp=ts, body=body)
        request = urllib.request.Request(self.url, data=body.encode(), method="POST", headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or ""})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Answer(response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read().decode())

    def _interactive(self, payload: dict[str, Any]) -> Answer:
        return self.post(urllib.parse.urlencode({"payload": json.dumps(payload)}),
                         "application/x-www-form-urlencoded")

    def _user(self, who: Person) -> dict[str, Any]:
        return {"id": who.user_id, "username": who.key, "name": who.key,
                "team_id": who.team_id}

    def click(self, who: Person, action: dict[str, Any], *, channel: str = "",
              message_ts: str = "", home: bool = False) -> Answer:
        """A ``block_actions`` payload for a button or overflow choice on a message, in a
        modal (``action["in_modal"]``, with its ``state``) or on App Home (``home``)."""
        keys = ("type", "action_id", "block_id", "value", "selected_option")
        element: dict[str, Any] = {key: action[key] for key in keys if key in action}
        element["action_ts"] = f"{time.time():.6f}"
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": TEAM, "domain": "console"},
            "user": self._user(who), "api_app_id": "A0CONSOLE", "token": "console",
            "trigger_id": self.workspace.trigger(who.user_id), "actions": [element]}
        modal = self.workspace.modals.get(who.user_id)
        if home:
            home_view = self.workspace.homes.get(who.user_id) or {}
            payload["container"] = {"type": "view", "view_id": home_view.get("id", "")}
            payload["view"] = {**home_view, "type": "home"}
        elif action.get("in_modal") and modal is not None:
            payload["container"] = {"type": "view", "view_id": modal.get("id", "")}
            payload["view"] = {**modal, "state": {"values": action.get("state") or {}}}
        else:
            message = self.workspace.messages.get((channel, message_ts))
            payload["container"] = {"type": "message", "message_ts": message_ts,
                                    "channel_id": channel, "is_ephemeral": False}
            payload["channel"] = {"id": channel, "name": "console"}
            payload["message"] = {"ts": message_ts, "user": BOT_USER,
                                  "text": message.params.get("text", "") if message else "",
                                  "blocks": message.params.get("blocks", []) if message
                                  else []}
            payload["response_url"] = f"{self.console_url}/response_url/{who.user_id}/{channel}"
        return self._interactive(payload)

    def submit(self, who: Person, values: dict[str, dict[str, Any]]) -> Answer:
        """A ``view_submission`` of the person's open modal with the typed ``values``
        (block id -> action id -> element state); applies the bot's ``response_action``."""
        modal = self.workspace.modals.get(who.user_id)
        if modal is None:
            return Answer(409, "no modal is open")
        view = {key: value for key, value in modal.items() if key != "errors"}
        payload = {"type": "view_submission", "team": {"id": TEAM, "domain": "console"},
                   "user": self._user(who), "api_app_id": "A0CONSOLE", "token": "console",
                   "trigger_id": self.workspace.trigger(who.user_id),
                   "view": {**view, "state": {"values": values}, "team_id": TEAM,
                            "app_id": "A0CONSOLE", "bot_id": "B0001"}}
        updates = self.workspace.modal_updates(who.user_id)
        answer = self._interactive(payload)
        if answer.status != 200:
            return answer
        reply = answer.json()
        action = reply.get("response_action")
        if action == "errors":
            self.workspace.modal_errors(who.user_id, dict(reply.get("errors") or {}))
        elif action in ("update", "push") and isinstance(reply.get("view"), dict):
            self.workspace.replace_modal(who.user_id, reply["view"], updates)
        else:  # an empty answer, or "clear": Slack closes the modal
            self.workspace.close_modal(who.user_id)
        return answer

    def command(self, who: Person, text: str, channel: str, command: str = "/soc") -> Answer:
        """A slash command; its immediate answer is shown to the person alone."""
        body = urllib.parse.urlencode({
            "token": "console", "team_id": TEAM, "team_domain": "console",
            "channel_id": channel, "channel_name": "console", "user_id": who.user_id,
            "user_name": who.key, "command": command, "text": text, "api_app_id": "A0CONSOLE",
            "response_url": f"{self.console_url}/response_url/{who.user_id}/{channel}",
            "trigger_id": self.workspace.trigger(who.user_id)})
        answer = self.post(body, "application/x-www-form-urlencoded")
        reply = answer.json()
        if answer.status == 200 and (reply.get("text") or reply.get("blocks")):
            self.workspace.ephemeral(who.user_id, channel, str(reply.get("text", "")),
                                     list(reply.get("blocks") or []))
        return answer

    def home_opened(self, who: Person) -> Answer:
        """The ``app_home_opened`` event of the person opening the Home tab."""
        body = json.dumps({
            "token": "console", "team_id": TEAM, "api_app_id": "A0CONSOLE",
            "type": "event_callback", "event_id": f"Ev{time.time_ns()}",
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": who.user_id, "tab": "home",
                      "channel": self.workspace.channel_id(who.user_id),
                      "event_ts": f"{time.time():.6f}"},
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True,
                                "is_enterprise_install": False}]})
        return self.post(body, "application/json")
