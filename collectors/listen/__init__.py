"""Remote intake: one process that takes events from the agents hosts already run.

``socbot collect listen`` receives, on the addresses the configuration gives:

* syslog over TCP (RFC 6587 octet counting or newline framing), over TLS (RFC 5425) and over
  UDP, each message RFC 3164 or RFC 5424 (:mod:`.framing`);
* fluentd's Forward protocol v1: Message, Forward, PackedForward and CompressedPackedForward
  modes, the shared-key handshake, and the ``chunk`` option answered with an ``ack`` only once
  the entry's events are stored (:mod:`.forward`);
* JSON over HTTP (one object, an array, or JSON Lines) with a bearer token, as fluent-bit's and
  fluentd's ``http`` outputs and Vector's ``http`` sink send it (:mod:`.http`).

Every record goes through the same parsers as the files (:mod:`.intake` routes it by syslog
program or agent tag) and reaches ``{soc}:events`` through the collectors' :class:`EventSink`:
the same batching, spool and exactly-once commit as ``socbot collect secure``.
"""
