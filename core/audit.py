"""The audit trail: one Redis stream entry per change.

Every acknowledgement, remediation request, approval and denial (and every refused attempt
at one), and every playbook run, is appended to :data:`core.streams.AUDIT` with who did it,
what, on which alert and request, the result and when. Entries are flat strings so they can
be shipped as they are (fluentd, a SIEM).
"""

from __future__ import annotations

import time

import redis

from core.streams import AUDIT, Producer


def audit(client: redis.Redis, *, who: str, what: str, alert_id: str = "",
          action_id: str = "", result: str = "", at: float | None = None) -> str:
    """Append one audit entry and return its stream id.

    Example::

        audit(redis_client, who="U0123ABCD", what="ack", alert_id="A1B2C3", result="ok")
    """
    entry = {"who": who, "what": what, "alert_id": alert_id, "action_id": action_id,
             "result": result, "at": f"{time.time() if at is None else at:.3f}"}
    return Producer(client).add(AUDIT, entry)
