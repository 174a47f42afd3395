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

Example::

    table = Connections()
    for event in events:           # in log order
        table.apply(event)
"""

from __future__ import annotations

from collections import OrderedDict

from socbot.collectors.secure_common import AMBIGUOUS
from socbot.core.events import Event, epoch

__all__ = ["FROM_PROCESS", "Connections"]

FROM_PROCESS = "address_from_process"
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
        if "source.address" in event and AMBIGUOUS not in tags:
            self._table[key] = (now, {k: event[k] for k in _ADDRESS_FIELDS if k in event})
            self._table.move_to_end(key)
            while len(self._table) > self.max_entries:
                self._table.popitem(last=False)
        elif "source.address" not in event:
            known = self._table.get(key)
            if known is not None:
                seen, address = known
                if 0 <= now - seen <= self.ttl_s:
                    event.update(address)
                    event["tags"] = [*tags, FROM_PROCESS]
                    self._table[key] = (now, address)
                    self._table.move_to_end(key)
                else:
                    del self._table[key]
        if event.get("event.action") in _CLOSING:
            self._table.pop(key, None)
        return event
