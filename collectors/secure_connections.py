"""Per-process correlation: the address an sshd process wrote, for its lines that carry none.

sshd forks one process per connection, and every line about that connection carries the
process's pid. Some lines name no address (``Disconnecting: Too many authentication
failures``, ``fatal: Read from socket failed``, ``kex_exchange_identification: ...``,
``Unable to negotiate a key exchange method``, ``User U not allowed because account is
locked``, ``pam_unix(sshd:auth): check pass; user unknown``) or read two ways and kept none
(``ambiguous_fields``). :class:`Connections` remembers, per host and pid, the address sshd
wrote in an earlier line of the same process and gives it to such a line, tagged
``address_from_process``.

The table holds only what sshd wrote itself (an address taken from an unambiguous line), is
bounded (least recently used entries go first), expires entries by event time, and forgets a
process when its connection closes, so a pid the system reuses later starts fresh. A line
with no address that comes *before* any line of its process that has one stays without, and
the table lives in the reading process (a restarted collector starts with an empty one).

The other way round: when a process failed before authentication without naming the address
(``kex_exchange_identification: Connection closed by remote host``, what a port scanner
leaves on current OpenSSH) and then writes ``Connection closed by A port P`` without
``[preauth]``, that close is marked a pre-auth failure (``preauth_from_process``), so the
scanner's address is counted.

Example::

    table = Connections()
    for event in events:           # in log order
        table.apply(event)
"""

from __future__ import annotations

from collections import OrderedDict

from socbot.collectors.secure_common import AMBIGUOUS
from socbot.core.events import Event, epoch

__all__ = ["FROM_PROCESS", "PREAUTH_FROM_PROCESS", "Connections"]

FROM_PROCESS = "address_from_process"
PREAUTH_FROM_PROCESS = "preauth_from_process"
_PROGRAMS = frozenset({"sshd", "sshd-session", "sshd-auth", "dropbear"})
_ADDRESS_FIELDS = ("source.address", "source.ip", "source.domain", "source.port")
# Lines after which the process has no connection left: its pid may be reused.
_CLOSING = frozenset({"ssh_connection_closed", "ssh_connection_reset", "ssh_disconnected",
                      "ssh_logout", "ssh_timeout"})


class Connections:
    """Addresses of live sshd processes, per ``(host.name, process.pid)``.

    ``max_entries`` bounds memory; ``ttl_s`` is how long (in event time) an address stays
    usable after the process's last line.
    """

    def __init__(self, max_entries: int = 65536, ttl_s: float = 3600.0) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._table: OrderedDict[tuple[str, int], tuple[float, dict[str, object]]] = (
            OrderedDict())

    def __len__(self) -> int:
        return len(self._table)

    def apply(self, event: Event) -> Event:
        """Learn from ``event`` or complete it (in place); returns it."""
        if event.get("process.name") not in _PROGRAMS or "process.pid" not in event:
            return event
        key = (str(event.get("host.name", "")), int(event["process.pid"]))
        now = epoch(event)
        tags = event.get("tags") or ()
        known = self._table.get(key)
        if known is not None and not 0 <= now - known[0] <= self.ttl_s:
            del self._table[key]
            known = None
        if "source.address" in event and AMBIGUOUS not in tags:
            if known is not None and not known[1] and _preauth_close(event):
                # The process failed before authentication without naming the address
                # ("kex_exchange_identification: Connection closed by remote host"); this is
                # its close, so it is a pre-auth failure too.
                event["system.auth.ssh.preauth"] = True
                event["event.outcome"] = "failure"
                event["tags"] = [*tags, PREAUTH_FROM_PROCESS]
            self._remember(key, now, {k: event[k] for k in _ADDRESS_FIELDS if k in event})
        elif "source.address" not in event:
            if known is not None and known[1]:
                event.update(known[1])
                event["tags"] = [*tags, FROM_PROCESS]
                self._remember(key, now, known[1])
            elif known is None and event.get("system.auth.ssh.preauth") \
                    and event.get("event.outcome") == "failure":
                self._remember(key, now, {})  # no address yet: wait for the process's close
        if event.get("event.action") in _CLOSING:
            self._table.pop(key, None)
        return event

    def _remember(self, key: tuple[str, int], now: float, address: dict[str, object]) -> None:
        self._table[key] = (now, address)
        self._table.move_to_end(key)
        while len(self._table) > self.max_entries:
            self._table.popitem(last=False)


def _preauth_close(event: Event) -> bool:
    return (event.get("event.action") in _CLOSING and event.get("event.outcome") == "unknown"
            and not event.get("user.name"))
