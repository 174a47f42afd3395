"""The audit trail: one Redis stream entry per change, also shipped to fluentd.

Every acknowledgement, remediation request, approval and denial (and every refused attempt
at one), and every playbook run, is appended to :data:`core.streams.AUDIT` with who did it,
what, on which alert and request, the result and when. Entries are flat strings so they can
be shipped as they are (fluentd, a SIEM).

With ``FLUENTD_HOST`` set (``FLUENTD_PORT``, default 24224) each entry also goes to fluentd
with tag ``socbot.audit``, through :class:`core.auditforward.FluentForwarder`, which spools
entries to a JSON Lines file while fluentd is away and re-sends them in order when it returns.
``socbot audit tail|export`` read the stream (``bot/cli/audit.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import redis

from socbot.core.auditforward import FluentForwarder
from socbot.core.streams import AUDIT, Producer

log = logging.getLogger(__name__)

_lock = threading.Lock()
_forwarder: FluentForwarder | None = None
_configured = False


def configure(forwarder: FluentForwarder | None) -> None:
    """Use ``forwarder`` for fluentd (None: no forwarding), instead of the environment's."""
    global _forwarder, _configured
    with _lock:
        _forwarder, _configured = forwarder, True


def forwarder() -> FluentForwarder | None:
    """The process's forwarder: the configured one, else one from ``FLUENTD_HOST``."""
    global _forwarder, _configured
    with _lock:
        if not _configured:
            _forwarder, _configured = FluentForwarder.from_env(), True
        return _forwarder


def audit(client: redis.Redis, *, who: str, what: str, alert_id: str = "",
          action_id: str = "", result: str = "", at: float | None = None) -> str:
    """Append one audit entry and return its stream id.

    The Redis stream is written first and is the record; fluentd gets the entry with its
    stream id (``id``) and an ISO ``@timestamp``. A fluentd problem never raises here.

    Example::

        audit(redis_client, who="U0123ABCD", what="ack", alert_id="A1B2C3", result="ok")
    """
    when = time.time() if at is None else at
    entry = {"who": who, "what": what, "alert_id": alert_id, "action_id": action_id,
             "result": result, "at": f"{when:.3f}"}
    entry_id = Producer(client).add(AUDIT, entry)
    try:
        shipper = forwarder()
        if shipper is not None:
            shipper.send({**entry, "id": entry_id, "@timestamp": iso(when)}, when)
    except Exception:  # the audit stream has the entry; fluentd is a copy
        log.exception("cannot forward audit entry %s to fluentd", entry_id)
    return entry_id


def iso(ts: float) -> str:
    """UTC ISO 8601 with milliseconds, as events carry ``@timestamp``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
