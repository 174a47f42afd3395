"""Prometheus metrics of every stage, and the helpers the stages call to count.

The helpers keep label names and values in one place; a stage calls, for example::

    from socbot.core import metrics
    metrics.events_in("secure", 120)            # collector: after XADD of a batch
    metrics.parse_failure("secure", "too_long")  # collector: a line set aside
    metrics.alert("high", "new")                 # detection worker: per alert new/updated
    metrics.playbook_run("revoke-world-ingress", "succeeded", 1.8)
    web = metrics.MeteredWebClient(token=...)    # counts every Slack API call and error

Stream length, lag and pending entries per consumer group are read from Redis when Prometheus
scrapes (:class:`StreamCollector`), so they are right whichever process does the work.
``core.health`` serves ``/metrics`` and ``/healthz``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from socbot.core.streams import ACTIONS, ALERTS, AUDIT, DEAD_LETTERS, EVENTS, decode

log = logging.getLogger(__name__)

EVENTS_IN = Counter("socbot_events_in", "Events written to {soc}:events, by dataset",
                    ["dataset"])
PARSE_FAILURES = Counter("socbot_parse_failures",
                         "Input lines or records that could not be parsed, by source and reason",
                         ["source", "reason"])
ALERTS_TOTAL = Counter("socbot_alerts", "Alerts opened or updated, by severity",
                       ["severity", "outcome"])
SLACK_CALLS = Counter("socbot_slack_api_calls", "Slack Web API calls, by method", ["method"])
SLACK_ERRORS = Counter("socbot_slack_api_errors",
                       "Slack Web API calls that failed, by method and error", ["method", "error"])
PLAYBOOK_RUNS = Counter("socbot_playbook_runs", "Playbook runs, by playbook and outcome",
                        ["playbook", "outcome"])
PLAYBOOK_FAILURES = Counter("socbot_playbook_failures", "Playbook runs that failed",
                            ["playbook"])
PLAYBOOK_SECONDS = Histogram("socbot_playbook_seconds", "Playbook run time", ["playbook"],
                             buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
ENRICHMENT_UNAVAILABLE = Counter("socbot_enrichment_unavailable",
                                 "Enrichment lookups that found their source unavailable",
                                 ["source"])
ENRICHMENT_SECONDS = Histogram("socbot_enrichment_seconds", "Enrichment lookup time",
                               ["source"], buckets=(0.001, 0.005, 0.02, 0.1, 0.5, 2, 5, 10))
AUDIT_FORWARDED = Counter("socbot_audit_forwarded",
                          "Audit entries for fluentd: sent, spooled (fluentd down), resent",
                          ["outcome"])

LISTEN_REFUSED = Counter("socbot_listen_refused",
                         "Connections, frames or requests the listener refused, by protocol "
                         "and reason", ["protocol", "reason"])
FAILED_OUTCOMES = frozenset({"failed", "failure", "error", "timeout"})


def events_in(dataset: str, count: int = 1) -> None:
    """``count`` events of ``dataset`` were written to {soc}:events."""
    EVENTS_IN.labels(dataset=dataset or "unknown").inc(count)


def parse_failure(source: str, reason: str = "unparsed", count: int = 1) -> None:
    """A line or record of ``source`` could not be parsed (``reason``: a short fixed word)."""
    PARSE_FAILURES.labels(source=source, reason=reason).inc(count)


def listen_refused(protocol: str, reason: str) -> None:
    """The listener refused a peer, frame or request (``reason``: a short fixed word)."""
    LISTEN_REFUSED.labels(protocol=protocol, reason=reason).inc()


def alert(severity: str, outcome: str) -> None:
    """An alert was opened (``new``) or updated (``updated``) with ``severity``."""
    ALERTS_TOTAL.labels(severity=severity, outcome=outcome).inc()


def slack_call(method: str, error: str | None = None) -> None:
    """One Slack Web API call; ``error`` is Slack's error code (or ``http_429``...) if it
    failed."""
    SLACK_CALLS.labels(method=method).inc()
    if error:
        SLACK_ERRORS.labels(method=method, error=error).inc()


def playbook_run(playbook: str, outcome: str, seconds: float | None = None) -> None:
    """A playbook run ended with ``outcome`` (``succeeded`` / ``failed``)."""
    PLAYBOOK_RUNS.labels(playbook=playbook, outcome=outcome).inc()
    if outcome in FAILED_OUTCOMES:
        PLAYBOOK_FAILURES.labels(playbook=playbook).inc()
    if seconds is not None:
        PLAYBOOK_SECONDS.labels(playbook=playbook).observe(seconds)


def enrichment_unavailable(source: str) -> None:
    """An enrichment source could not answer."""
    ENRICHMENT_UNAVAILABLE.labels(source=source).inc()


def enrichment_seconds(source: str, seconds: float) -> None:
    """How long one enrichment lookup took (cache hits included)."""
    ENRICHMENT_SECONDS.labels(source=source).observe(seconds)


def audit_forwarded(outcome: str, count: int = 1) -> None:
    """Audit entries handed to fluentd (``sent``, ``spooled``, ``resent``)."""
    AUDIT_FORWARDED.labels(outcome=outcome).inc(count)


class MeteredWebClient(WebClient):
    """A slack_sdk WebClient that counts every API call and every failed one.

    Build it exactly like a WebClient (``bot.notifier.make_web_client`` can return one).
    Retries after a 429 happen inside one call, so they count once.
    """

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        try:
            response = super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            status = getattr(exc.response, "status_code", 0)
            slack_call(api_method, error or f"http_{status}")
            raise
        except Exception as exc:
            slack_call(api_method, type(exc).__name__)
            raise
        slack_call(api_method)
        return response


# --- stream state, read at scrape time -----------------------------------------------------

STREAMS = (EVENTS, ALERTS, ACTIONS, AUDIT, DEAD_LETTERS)
_LAG_SCAN_CAP = 10_000


class StreamCollector(Collector):
    """Length of each stream, and pending entries and lag of each consumer group.

    Lag is the number of entries the group has not read yet: Redis 7 reports it
    (``XINFO GROUPS``); on older servers it is counted with XRANGE, up to 10,000.
    """

    def __init__(self, client: redis.Redis, streams: Iterable[str] = STREAMS) -> None:
        self.client = client
        self.streams = tuple(streams)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        length = GaugeMetricFamily("socbot_stream_length", "Entries in the stream",
                                   labels=["stream"])
        lag = GaugeMetricFamily("socbot_stream_lag",
                                "Entries a consumer group has not read yet",
                                labels=["stream", "group"])
        pending = GaugeMetricFamily("socbot_stream_pending",
                                    "Entries read by a consumer group but not acknowledged",
                                    labels=["stream", "group"])
        up = GaugeMetricFamily("socbot_redis_up", "1 if Redis answered the last scrape")
        try:
            for stream in self.streams:
                length.add_metric([stream], self.client.xlen(stream))
                if not self.client.exists(stream):
                    continue
                for group in self.client.xinfo_groups(stream):
                    name = decode(group["name"])
                    pending.add_metric([stream, name], int(group["pending"]))
                    lag.add_metric([stream, name], self._lag(stream, group))
            up.add_metric([], 1)
        except redis.RedisError as exc:
            log.warning("cannot read stream metrics: %s", exc)
            up.add_metric([], 0)
        yield from (length, lag, pending, up)

    def _lag(self, stream: str, group: dict[str, Any]) -> int:
        reported = group.get("lag")
        if reported is not None:
            return int(reported)
        last = decode(group["last-delivered-id"])
        unread = self.client.xrange(stream, min=f"({last}" if last != "0-0" else "-",
                                    count=_LAG_SCAN_CAP)
        return len(unread or ())


def register_streams(client: redis.Redis,
                     registry: CollectorRegistry = REGISTRY) -> StreamCollector:
    """Add stream metrics for ``client`` to ``registry`` (once per process)."""
    collector = StreamCollector(client)
    registry.register(collector)
    return collector
