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
scanner's address is counted. And a pre-auth line without a user name of a process that
tried a user earlier (``Received disconnect ... Bye Bye [preauth]`` after ``Failed
password``) carries ``system.auth.ssh.user_tried``: it ends a guessing session, not a scan.

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
# Lines that show the process tried a user (even when the line keeps no user name).
_ATTEMPTS = frozenset({"ssh_login", "ssh_invalid_user", "ssh_auth_failure", "pam_auth_failure",
                       "pam_user_unknown", "ssh_not_allowed", "ssh_root_refused",
                       "ssh_max_auth_attempts"})


class Connections:
    """Addresses of live sshd processes, per ``(host.name, process.pid)``.

    ``max_entries`` bounds memory; ``ttl_s`` is how long (in event time) an address stays
    usable after the process's last line.
    """

    def __init__(self, max_entries: int = 65536, ttl_s: float = 3600.0) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        # (host, pid) -> (last seen, address fields, whether a user was tried)
        self._table: OrderedDict[tuple[str, int], tuple[float, dict[str, object], bool]] = (
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
        address, tried = (known[1], known[2]) if known is not None else ({}, False)
        if "source.address" in event and AMBIGUOUS not in tags:
            if known is not None and not address and _preauth_close(event):
                # The process failed before authentication without naming the address
                # ("kex_exchange_identification: Connection closed by remote host"); this is
                # its close, so it is a pre-auth failure too.
                event["system.auth.ssh.preauth"] = True
                event["event.outcome"] = "failure"
                event["tags"] = tags = [*tags, PREAUTH_FROM_PROCESS]
            address = {k: event[k] for k in _ADDRESS_FIELDS if k in event}
        elif "source.address" not in event and address:
            event.update(address)
            event["tags"] = [*tags, FROM_PROCESS]
        if tried and not event.get("user.name") and event.get("system.auth.ssh.preauth"):
            event["system.auth.ssh.user_tried"] = True  # a brute-force session's close
        tried = tried or bool(event.get("user.name")) or event.get("event.action") in _ATTEMPTS
        if event.get("event.action") in _CLOSING:
            self._table.pop(key, None)
        elif address or tried or (event.get("system.auth.ssh.preauth")
                                  and event.get("event.outcome") == "failure"):
            self._table[key] = (now, address, tried)
            self._table.move_to_end(key)
            while len(self._table) > self.max_entries:
                self._table.popitem(last=False)
        return event


def _preauth_close(event: Event) -> bool:
    return (event.get("event.action") in _CLOSING and event.get("event.outcome") == "unknown"
            and not event.get("user.name"))
