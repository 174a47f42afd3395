"""``/metrics`` (Prometheus) and ``/healthz`` over HTTP, for every socbot process.

``/healthz`` answers 200 with ``{"status": "ok", "checks": {...}}`` when every check passes and
503 naming what is wrong otherwise (Redis unreachable, a stage's thread dead, ...). Checks are
functions returning None when healthy or a sentence saying what is wrong.

Example::

    server = HealthServer(redis_client, "0.0.0.0", 9108,
                          checks={"detect": lambda: None if thread.is_alive() else "stopped"})
    server.start()
    ...
    server.close()

The container's HEALTHCHECK runs ``python -m core.health`` (exit 0 when ``/healthz`` says ok).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from socbot.core.metrics import StreamCollector

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "0.0.0.0:9108"
Check = Callable[[], str | None]


def redis_check(client: redis.Redis) -> Check:
    """A check that Redis answers a PING."""

    def check() -> str | None:
        try:
            client.ping()
        except redis.RedisError as exc:
            return f"cannot reach Redis: {exc}"
        return None

    return check


def listen_address(value: str | None = None) -> tuple[str, int] | None:
    """``HOST:PORT`` from ``value`` or ``SOCBOT_METRICS_LISTEN``; None when unset or ``off``."""
    text = (value if value is not None else os.environ.get("SOCBOT_METRICS_LISTEN", "")).strip()
    if not text or text.lower() == "off":
        return None
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"SOCBOT_METRICS_LISTEN={text!r}: write HOST:PORT such as "
                         f"{DEFAULT_LISTEN}, or off")
    return host or "0.0.0.0", int(port)


class HealthServer:
    """Serve ``/metrics`` and ``/healthz`` from a daemon thread."""

    def __init__(self, client: redis.Redis | None, host: str = "0.0.0.0", port: int = 9108,
                 *, checks: Mapping[str, Check] | None = None,
                 registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.checks: dict[str, Check] = {}
        self._collector: StreamCollector | None = None
        if client is not None:
            self.checks["redis"] = redis_check(client)
            self._collector = StreamCollector(client)
            registry.register(self._collector)
        self.checks.update(checks or {})
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="health",
                                        kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def url(self) -> str:
        """The base URL the server answers on."""
        host, port = self.server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    def start(self) -> HealthServer:
        """Start answering."""
        self._thread.start()
        return self

    def health(self) -> tuple[bool, dict[str, str]]:
        """Run every check: ``(all ok, {name: "ok" or what is wrong})``."""
        results: dict[str, str] = {}
        for name, check in self.checks.items():
            try:
                problem = check()
            except Exception as exc:  # a broken check is itself a finding
                problem = f"check failed: {type(exc).__name__}: {exc}"
            results[name] = problem or "ok"
        return all(v == "ok" for v in results.values()), results

    def close(self) -> None:
        """Stop answering and forget the stream metrics."""
        self.server.shutdown()
        self.server.server_close()
        if self._collector is not None:
            self.registry.unregister(self._collector)
            self._collector = None


def _handler(owner: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(owner.registry))
            elif path in ("/healthz", "/health"):
                ok, results = owner.health()
                body = {"status": "ok" if ok else "fail", "checks": results}
                self._send(200 if ok else 503, "application/json",
                           json.dumps(body).encode())
            else:
                self._send(404, "text/plain", b"not found: try /metrics or /healthz\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("health: " + format, *args)

    return Handler


def probe(url: str, timeout_s: float = 3.0) -> tuple[bool, str]:
    """Ask ``url`` (a ``/healthz``) and return ``(healthy, what it said)``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return False, exc.read().decode(errors="replace")
    except OSError as exc:
        return False, f"no answer from {url}: {exc}"


def main(argv: list[str] | None = None) -> int:
    """``python -m core.health [URL]``: exit 0 if the process's ``/healthz`` says ok."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        url = args[0]
    else:
        listen = listen_address() or ("127.0.0.1", 9108)
        host = "127.0.0.1" if listen[0] in ("0.0.0.0", "", "::") else listen[0]
        url = f"http://{host}:{listen[1]}/healthz"
    healthy, said = probe(url)
    print(said.strip())
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
