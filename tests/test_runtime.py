"""Which stages a process runs, and how it reaches Slack."""

from __future__ import annotations

import io

import redis

from socbot.bot.runtime import Runtime
from socbot.core.config import Secrets, Settings


def test_without_slack_credentials_alerts_go_to_the_terminal(redis_client: redis.Redis) -> None:
    runtime = Runtime(redis_client, Settings(), Secrets(), out=io.StringIO()).build()
    assert sorted(runtime.consumers) == ["detect", "index", "notify", "respond"]
    assert runtime.consumers["index"].group == "index"
    notifier = runtime.consumers["notify"].handler.__self__  # type: ignore[attr-defined]
    assert type(notifier).__name__ == "TerminalNotifier"
    # No Slack server; only the flusher that prints growing counts (the detection stage
    # marks them instead of writing an entry per signal).
    assert runtime.http_server is None
    assert [thread.name for thread in runtime.threads] == ["notify-flush"]


def test_an_app_token_selects_socket_mode(redis_client: redis.Redis) -> None:
    secrets = Secrets(slack_bot_token="xoxb-1", slack_app_token="xapp-1",
                      slack_api_url="http://127.0.0.1:9/api/")
    runtime = Runtime(redis_client, Settings(), secrets, roles=("slack",)).build()
    assert runtime.http_server is None
    assert [t.name for t in runtime.threads] == ["slack"]
    assert runtime.threads[0]._target.__self__.__class__.__name__ == (  # type: ignore[attr-defined]
        "SocketModeHandler")


def test_a_signing_secret_alone_selects_http_mode(redis_client: redis.Redis) -> None:
    secrets = Secrets(slack_bot_token="xoxb-1", slack_signing_secret="s",
                      slack_api_url="http://127.0.0.1:9/api/")
    runtime = Runtime(redis_client, Settings(), secrets, roles=("slack",),
                      listen=("127.0.0.1", 0)).build()
    try:
        assert runtime.http_server is not None and runtime.http_server.server_port > 0
    finally:
        runtime.http_server.server_close()


def test_one_role_per_process_for_scaling_out(redis_client: redis.Redis) -> None:
    runtime = Runtime(redis_client, Settings(), Secrets(), roles=("detect",)).build()
    assert list(runtime.consumers) == ["detect"]
    assert runtime.consumers["detect"].group == "detect"


def test_with_slack_every_role_runs_including_escalation(redis_client: redis.Redis) -> None:
    secrets = Secrets(slack_bot_token="xoxb-1", slack_signing_secret="s",
                      slack_api_url="http://127.0.0.1:9/api/")
    runtime = Runtime(redis_client, Settings(), secrets, listen=("127.0.0.1", 0)).build()
    try:
        assert sorted(runtime.consumers) == ["detect", "index", "notify", "respond"]
        assert sorted(t.name for t in runtime.threads) == ["escalate", "notify-flush", "slack"]
        notifier = runtime.consumers["notify"].handler.__self__  # type: ignore[attr-defined]
        assert [h.__name__ for h in notifier.on_posted] == ["schedule", "start"]
        # A read's alerts are marked in one transaction (see test_rollup).
        assert runtime.consumers["notify"].batch_handler == notifier.handle_batch
    finally:
        runtime.http_server.server_close()


def test_in_one_process_indexing_gives_way_to_a_detection_backlog(
        redis_client: redis.Redis) -> None:
    runtime = Runtime(redis_client, Settings(), Secrets(), out=io.StringIO()).build()
    detect, index = runtime.consumers["detect"], runtime.consumers["index"]
    assert index.defer_to is not None and not index.defer_to()
    detect.behind = True  # a full read: detection has a backlog
    assert index.defer_to()
    alone = Runtime(redis_client, Settings(), Secrets(), roles=("index",)).build()
    assert alone.consumers["index"].defer_to is None  # nothing to give way to


def test_the_detect_stage_reads_its_next_batch_ahead(redis_client: redis.Redis) -> None:
    runtime = Runtime(redis_client, Settings(), Secrets(), out=io.StringIO()).build()
    assert runtime.consumers["detect"].read_ahead
    assert not runtime.consumers["index"].read_ahead
