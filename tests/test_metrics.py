"""Metrics and health over HTTP: /metrics, /healthz, stream lag, Slack call counting."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from fake_slack import FakeSlack
from prometheus_client import CollectorRegistry
from redis.backoff import NoBackoff
from redis.retry import Retry
from slack_sdk.errors import SlackApiError

from socbot.core import metrics
from socbot.core.health import HealthServer, listen_address, main, probe
from socbot.core.streams import EVENTS, Consumer, Producer


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None if absent."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{want}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return None


@pytest.fixture
def server(redis_client: redis.Redis) -> Iterator[HealthServer]:
    running = HealthServer(redis_client, "127.0.0.1", 0).start()
    yield running
    running.close()


def test_metrics_endpoint_serves_the_counters_stages_increment(server: HealthServer) -> None:
    _, before = get(server.url + "/metrics")
    start = sample(before, "socbot_events_in_total", dataset="secure") or 0.0
    metrics.events_in("secure", 3)
    metrics.parse_failure("secure", "too_long")
    metrics.alert("high", "new")
    metrics.playbook_run("revoke-world-ingress", "failed", 2.0)
    status, text = get(server.url + "/metrics")
    assert status == 200
    assert sample(text, "socbot_events_in_total", dataset="secure") == start + 3
    assert (sample(text, "socbot_parse_failures_total", reason="too_long", source="secure")
            or 0) >= 1
    assert (sample(text, "socbot_alerts_total", outcome="new", severity="high") or 0) >= 1
    assert (sample(text, "socbot_playbook_failures_total",
                   playbook="revoke-world-ingress") or 0) >= 1


def test_stream_lag_and_pending_per_group(redis_client: redis.Redis,
                                          server: HealthServer) -> None:
    handled: list[str] = []
    consumer = Consumer(redis_client, EVENTS, "detect", "w1",
                        lambda entry_id, fields: handled.append(entry_id), batch=3)
    Producer(redis_client).add_many(EVENTS, [{"e": str(n)} for n in range(10)])
    consumer.step(block_ms=0)  # handles 3 of 10
    _, text = get(server.url + "/metrics")
    assert sample(text, "socbot_stream_length", stream=EVENTS) == 10
    assert sample(text, "socbot_stream_lag", group="detect", stream=EVENTS) == 7
    assert sample(text, "socbot_stream_pending", group="detect", stream=EVENTS) == 0
    assert sample(text, "socbot_redis_up") == 1


def test_healthz_is_ok_with_redis(server: HealthServer) -> None:
    status, body = get(server.url + "/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "checks": {"redis": "ok"}}


def test_healthz_says_what_is_wrong() -> None:
    dead = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))
    stage = threading.Thread(target=lambda: None)
    stage.start()
    stage.join()
    running = HealthServer(dead, "127.0.0.1", 0, registry=CollectorRegistry(), checks={
        "detect": lambda: None if stage.is_alive() else "the detect stage has stopped"}).start()
    try:
        status, body = get(running.url + "/healthz")
        assert status == 503
        found = json.loads(body)
        assert found["status"] == "fail"
        assert found["checks"]["redis"].startswith("cannot reach Redis")
        assert found["checks"]["detect"] == "the detect stage has stopped"
        _, text = get(running.url + "/metrics")
        assert sample(text, "socbot_redis_up") == 0
        healthy, said = probe(running.url + "/healthz")
        assert not healthy and "cannot reach Redis" in said
        assert main([running.url + "/healthz"]) == 1
    finally:
        running.close()


def test_the_probe_used_by_the_container_healthcheck(server: HealthServer) -> None:
    assert main([server.url + "/healthz"]) == 0
    assert probe("http://127.0.0.1:9/healthz")[0] is False


def test_listen_address_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert listen_address("") is None and listen_address("off") is None
    assert listen_address("0.0.0.0:9108") == ("0.0.0.0", 9108)
    assert listen_address(":9200") == ("0.0.0.0", 9200)
    monkeypatch.setenv("SOCBOT_METRICS_LISTEN", "127.0.0.1:9300")
    assert listen_address() == ("127.0.0.1", 9300)
    with pytest.raises(ValueError, match="write HOST:PORT"):
        listen_address("localhost")


def test_slack_calls_and_errors_are_counted(slack: FakeSlack) -> None:
    web = metrics.MeteredWebClient(token="xoxb-test", base_url=slack.url)
    calls = metrics.SLACK_CALLS.labels(method="chat.postMessage")
    errors = metrics.SLACK_ERRORS.labels(method="chat.postMessage", error="internal_error")
    before_calls, before_errors = calls._value.get(), errors._value.get()
    web.chat_postMessage(channel="#a", text="hi")
    slack.fail_next("chat.postMessage", status=500)
    with pytest.raises(SlackApiError):
        web.chat_postMessage(channel="#a", text="hi")
    assert calls._value.get() == before_calls + 2
    assert errors._value.get() == before_errors + 1


def test_lag_is_counted_where_redis_does_not_report_it(redis_client: redis.Redis) -> None:
    ids = Producer(redis_client).add_many(EVENTS, [{"e": str(n)} for n in range(5)])
    collector = metrics.StreamCollector(redis_client)
    # Redis 6.2 (the embedded server) has no "lag" in XINFO GROUPS.
    assert collector._lag(EVENTS, {"last-delivered-id": ids[1], "lag": None}) == 3
    assert collector._lag(EVENTS, {"last-delivered-id": "0-0"}) == 5
