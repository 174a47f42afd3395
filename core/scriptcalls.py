"""Lua script calls pipelined on one connection: sent now, their replies read later."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import redis


def own_pool(client: redis.Redis) -> Any:
    """The pool whose connections ``client`` takes one at a time, to hold one for commands
    whose replies are read later; None for a client that holds no such pool (a cluster client,
    a single-connection client): it runs each command when asked."""
    pool = getattr(client, "connection_pool", None)
    return pool if getattr(client, "connection", None) is None else None


class ScriptCalls:
    """Calls of one Lua script sent now and their replies read later, in the order sent, on one
    connection of the client's pool (Redis runs one connection's commands in order), so Redis
    runs them while Python goes on: the engine's state calls of a batch, the detect stage's alert
    write while the batch's signals go through the entity-risk rules. Each call is an ``EVAL``
    of the script's text (cached by Redis under its SHA-1), so no call can meet an unloaded
    script midway.

    A client without a pool of connections of its own (a cluster client, a single-connection
    client) runs each call when it is sent. So does every call after the connection fails
    (ConnectionError, TimeoutError): the calls whose replies were not read run again, in
    order, through the client (with its retries), as a retried command would, so a script
    called this way must answer a repeated call as it did the first time (the rule state does:
    event ids are its members; so does the alert write: signal ids). Leaving the ``with`` block
    early (an exception) drops the connection, with whatever replies it holds.
    """

    def __init__(self, client: redis.Redis, script: Callable[[], Any]) -> None:
        self.client = client
        self.script = script  # the registered script, on first use
        self.pool = own_pool(client)
        self.connection: Any = None
        # Per call: its payload, its reply (None while on the wire), its tag and its keys.
        self.waiting: deque[list[Any]] = deque()

    def __enter__(self) -> ScriptCalls:
        return self

    def __exit__(self, *exc: object) -> None:
        self._drop(unread=any(call[1] is None for call in self.waiting)
                   or exc[0] is not None)
        self.waiting.clear()

    def _drop(self, unread: bool) -> None:
        if self.connection is not None and self.pool is not None:
            if unread:
                self.connection.disconnect()
            self.pool.release(self.connection)
        self.connection = None

    def _fail_over(self) -> None:
        """The connection failed: run the calls not read yet through the client, in order."""
        self._drop(unread=True)
        self.pool = None
        for call in self.waiting:
            if call[1] is None:
                call[1] = self.script()(keys=call[3], args=[call[0]])

    def send(self, payload: bytes, keys: list[str], tag: Any) -> None:
        """Send one call of the script with ``payload`` (declaring ``keys``); ``tag`` comes
        back with its reply."""
        if self.pool is None:
            self.waiting.append([payload, self.script()(keys=keys, args=[payload]), tag, keys])
            return
        self.waiting.append([payload, None, tag, keys])
        try:
            if self.connection is None:
                self.connection = self.pool.get_connection()
            self.connection.send_command("EVAL", self.script().script, len(keys), *keys,
                                         payload)
        except (redis.ConnectionError, redis.TimeoutError):
            self._fail_over()

    def read(self) -> tuple[bytes, Any]:
        """The reply of the earliest call not read yet, with its tag."""
        call = self.waiting[0]
        if call[1] is None:
            try:
                call[1] = self.connection.read_response()
            except (redis.ConnectionError, redis.TimeoutError):
                self._fail_over()
        self.waiting.popleft()
        return call[1], call[2]
