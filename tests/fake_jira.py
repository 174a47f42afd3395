"""A fake Jira Cloud REST API v3 over real HTTP, for the Create ticket tests.

It answers ``POST /rest/api/3/issue`` as Jira documents it and refuses what Jira refuses: a
wrong basic-auth pair (401), a request that is not JSON (415), an unknown project or issue
type, a summary that is empty, longer than 255 characters or holds a line break, a
description that is not an Atlassian Document (v3 takes ADF, not a string), labels with
spaces (400 with ``errors`` per field). Created issues get keys ``PROJECT-1``, ``-2``...
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

EMAIL, TOKEN, PROJECT = "soc@example.com", "jira-api-token", "SEC"


@dataclass
class FakeJira:
    """The fake site. Use as a context manager; ``url`` is ``tickets.jira.url``."""

    issues: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int = 0  # answer the next request with this status (0: no failure)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        """The site address."""
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, Any]]:
        """Check one request as Jira would and answer it."""
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers})
            if self.fail_with:
                status, self.fail_with = self.fail_with, 0
                return status, {"errorMessages": ["Jira is having a bad day"], "errors": {}}
        if method != "POST" or path != "/rest/api/3/issue":
            return 404, {"errorMessages": [f"no {method} {path}"], "errors": {}}
        expected = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
        if headers.get("authorization") != expected:
            return 401, {"errorMessages": ["You are not authenticated."], "errors": {}}
        if "application/json" not in headers.get("content-type", ""):
            return 415, {"errorMessages": ["Unsupported media type"], "errors": {}}
        try:
            fields = json.loads(body)["fields"]
        except (ValueError, KeyError, TypeError):
            return 400, {"errorMessages": ["the body must be {\"fields\": {...}}"], "errors": {}}
        errors = _field_errors(fields)
        if errors:
            return 400, {"errorMessages": [], "errors": errors}
        with self._lock:
            number = len(self.issues) + 1
            key = f"{PROJECT}-{number}"
            self.issues.append({"key": key, **fields})
        return 201, {"id": str(10000 + number), "key": key,
                     "self": f"{self.url}/rest/api/3/issue/{10000 + number}"}


def _field_errors(fields: dict[str, Any]) -> dict[str, str]:
    errors = {}
    if (fields.get("project") or {}).get("key") != PROJECT:
        errors["project"] = "valid project is required"
    if (fields.get("issuetype") or {}).get("name") not in ("Task", "Bug"):
        errors["issuetype"] = "valid issue type is required"
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors["summary"] = "You must specify a summary of the issue."
    elif len(summary) > 255 or "\n" in summary:
        errors["summary"] = "Summary must be less than 255 characters, on one line."
    description = fields.get("description")
    if not (isinstance(description, dict) and description.get("type") == "doc"
            and description.get("version") == 1
            and isinstance(description.get("content"), list)
            and all(isinstance(node, dict) and node.get("type")
                    for node in description["content"])):
        errors["description"] = ("Operation value must be an Atlassian Document (see the "
                                 "Atlassian Document Format)")
    labels = fields.get("labels", [])
    if not isinstance(labels, list) or not all(
            isinstance(label, str) and label and " " not in label for label in labels):
        errors["labels"] = "Labels cannot contain spaces."
    return errors


def _handler_for(fake: FakeJira) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._serve(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def do_GET(self) -> None:
            self._serve(b"")

        def _serve(self, body: bytes) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = fake.answer(self.command, self.path, headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
