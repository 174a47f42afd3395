"""The console without a browser: its Web API, its guards, and signed interactions.

The page's behaviour is tested in a real browser in ``test_console_browser.py``; these run
everywhere (no Chromium, no Playwright needed).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from socbot.bot.cli import main
from socbot.bot.console import demo
from socbot.bot.console.interactions import Bot
from socbot.bot.console.server import ConsoleServer
from socbot.bot.console.workspace import Workspace, person


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None
            ) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, headers=headers or {},
                                 method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def console(redis_client: redis.Redis) -> Iterator[demo.Console]:
    running = demo.start(aws=False, redis_client=redis_client)
    try:
        yield running
    finally:
        running.close()


def test_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        ConsoleServer("0.0.0.0", 0, Workspace())


def test_cli_refuses_a_non_loopback_address_and_console_without_demo(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--no-aws", "--console-listen", "0.0.0.0:0"]) == 2
    assert "loopback only" in capsys.readouterr().err
    assert main(["run", "--console"]) == 2
    assert "--console goes with --demo" in capsys.readouterr().err


def test_web_api_answers_as_slack_does() -> None:
    workspace = Workspace()
    assert workspace.call("chat.postMessage", {"channel": "#x", "text": "hi"},
                          "xapp-1")["error"] == "not_authed"
    posted = workspace.call("chat.postMessage", {"channel": "#x", "text": "hi"}, "xoxb-1")
    assert posted["ok"] and posted["channel"].startswith("C")
    assert workspace.call("chat.update", {"channel": posted["channel"], "ts": "1.2",
                                          "text": "x"}, "xoxb-1")["error"] == "message_not_found"
    assert workspace.call("chat.postMessage", {"channel": posted["channel"], "text": "r",
                                               "thread_ts": "9.9"},
                          "xoxb-1")["error"] == "thread_not_found"
    # views.open needs a trigger_id the console gave an interaction, once.
    assert workspace.call("views.open", {"trigger_id": "1.2.3", "view": {}},
                          "xoxb-1")["error"] == "expired_trigger_id"
    trigger = workspace.trigger("U0APPR")
    assert workspace.call("views.open", {"trigger_id": trigger, "view": {"type": "modal"}},
                          "xoxb-1")["ok"]
    assert workspace.snapshot("U0APPR")["modal"]["type"] == "modal"
    assert workspace.snapshot("U0ONCALL")["modal"] is None
    assert not workspace.call("views.open", {"trigger_id": trigger, "view": {}}, "xoxb-1")["ok"]


def test_page_calls_must_be_json_from_a_loopback_host(console: demo.Console) -> None:
    url = f"{console.url}/console/command"
    body = json.dumps({"user": "oncall", "text": "help", "channel": "C1"}).encode()
    # A form post (what another web site could make a browser send) is refused.
    status, _ = request(url, b"user=oncall&text=help",
                        {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403
    # A name that resolves to loopback but is not ours (DNS rebinding) is refused too.
    status, _ = request(url, body, {"Content-Type": "application/json",
                                    "Host": "evil.example:80"})
    assert status == 403
    status, answer = request(url, body, {"Content-Type": "application/json"})
    assert status == 200 and answer["status"] == 200
    # Nor can a form write into the channel through the Web API or a response_url.
    channel = console.server.workspace.channel_id("#security-alerts")
    status, answer = request(f"{console.url}/api/chat.postMessage",
                             f"token=xoxb-1&channel={channel}&text=forged".encode(),
                             {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer == {"ok": False, "error": "not_authed"}
    status, _ = request(f"{console.url}/response_url/U0ONCALL/{channel}",
                        b'{"response_type": "in_channel", "text": "forged"}',
                        {"Content-Type": "text/plain"})
    assert status == 415
    ephemerals = console.server.workspace.snapshot("U0ONCALL")["ephemerals"]
    assert ephemerals and not console.server.workspace.snapshot("U0APPR")["ephemerals"]


def test_clicks_are_signed_and_reach_the_bot(console: demo.Console) -> None:
    workspace = console.server.workspace
    assert console.server.bot is not None
    assert console.server.bot.home_opened(person("approver")).status == 200
    # The bot publishes App Home for that person, through the console's Web API.
    assert workspace.wait_change(-1, 5) and _eventually(lambda: workspace.homes.get("U0APPR"))
    forged = Bot(console.server.bot.url, "not-the-secret", workspace, console.url)
    assert forged.home_opened(person("approver")).status == 401


def test_response_url_in_channel_and_ephemeral(console: demo.Console) -> None:
    workspace = console.server.workspace
    channel = workspace.channel_id("#security-alerts")
    for kind in ("ephemeral", "in_channel"):
        status, _ = request(f"{console.url}/response_url/U0APPR/{channel}",
                            json.dumps({"response_type": kind, "text": kind}).encode(),
                            {"Content-Type": "application/json"})
        assert status == 200
    seen = workspace.snapshot("U0APPR")
    assert [e["text"] for e in seen["ephemerals"]] == ["ephemeral"]
    assert [m["text"] for m in seen["messages"]] == ["in_channel"]
    assert workspace.snapshot("U0ONCALL")["ephemerals"] == []


def _eventually(condition: Any, timeout: float = 5.0) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
    return value


def test_thread_replies_reach_the_terminal_as_plain_safe_text() -> None:
    from socbot.bot.cli.console import terminal_text

    workspace = Workspace()
    top = workspace.call("chat.postMessage", {"channel": "#a", "text": "alert"}, "xoxb-1")
    workspace.call("chat.postMessage", {"channel": top["channel"], "thread_ts": top["ts"],
                                        "text": "Succeeded: &lt;!channel&gt; \x1b[2Jcleared"},
                   "xoxb-1")
    [text] = workspace.thread_texts().values()
    assert terminal_text(text) == "Succeeded: <!channel>  [2Jcleared"
