"""Every Redis key socbot reads or writes, named in one place.

All keys start with ``{soc}:``, so one Redis (or one database of it) can hold socbot next to
other data, and ``redis-cli --scan --pattern '{soc}:*'`` shows everything socbot keeps. A module
that needs a key imports its name or builder from here; nothing else spells ``{soc}:``.

``{soc}`` is a Redis Cluster hash tag: the slot of a key that holds ``{...}`` is that of the
text between the first pair of braces, so every socbot key is in one slot, on one master.
That is what lets each Lua script and MULTI stay atomic on a cluster: the alert script reads
the alert a dedup key names and writes it, its signal set, the open-alert index and the alerts
stream in one step, which Redis Cluster allows only within one slot. Text from a log that holds
braces changes nothing: only the first pair counts, and it is always ``{soc}``. Keys written by
a version before the tag (``soc:...``) are renamed by :mod:`socbot.core.keyupgrade`. Below, the
names are written without the root: ``events`` is ``{soc}:events``.

Streams (the pipeline's stages, see :mod:`core.streams`)::

    events  alerts  actions  dead  audit

Alerts, remediation requests and mutes (``core/alerts.py``, ``core/actions.py``,
``core/mutes.py``)::

    alert:{id}            hash; :signals (set), :events (list), :actions (list of ids)
    alerts:open           sorted set of open alert ids by last time
    dedup:{rule}:{key}    the alert a rule's dedup key currently groups into
    action:{id}           hash; :approvers (set), :log (list of approvers in order)
    mute:{rule}:{entity}  one mute, expiring by itself; mutes indexes them,
    mutes:counts          signals silenced, by rule:entity

The recent-event store (``core/eventstore.py``)::

    es:all  es:last  es:ix:{kind}:{value}

Collectors: ``pos:{path}`` (tail positions), ``seen:ct:{eventID}`` (CloudTrail dedup),
``spool:done:{name}:{epoch}`` (spool replay marks), ``stats:parse`` (parse counts),
``door:replay:{hash}`` (door webhook signatures seen).
Detection rule state: ``st:{rule}:{key}:{part}`` and ``win:{rule}:{key}`` (with
``:pending``, ``:absorbed``, ``:n`` and ``:hot`` beside it: Threshold's exact counting); imported
Sigma rules ``sigma:rules``, ``sigma:promoted``, ``sigma:staged``; threat
intelligence ``intel:addresses``, ``intel:version``, ``intel:feeds``. Enrichment:
``enrich:{source}:{lookup}``. Slack side: ``notify:*``, ``render:{alert}``,
``escalate:*``, ``verify:*``, ``slack:*`` (deliveries already handled),
``rollup:*`` (storm rollups: the rollup, its members, each member's rollup, the rollup
taking members per channel and rule, recent openings per channel and rule).

A key built from untrusted text (a user name, an address, a path) is still one key: Redis keys
are binary-safe, and the only parsing of a key name is of the alert key, whose id socbot makes.
"""

from __future__ import annotations

import hashlib

ROOT = "{soc}:"
# Every key began ``soc:`` before Redis Cluster support; core.keyupgrade renames such keys.
EARLIER_ROOT = "soc:"

# --- streams --------------------------------------------------------------------------------
EVENTS = ROOT + "events"
ALERTS = ROOT + "alerts"
ACTIONS = ROOT + "actions"
DEAD_LETTERS = ROOT + "dead"
AUDIT = ROOT + "audit"

# --- alerts ---------------------------------------------------------------------------------
ALERT_PREFIX = ROOT + "alert:"
OPEN_ALERTS = ROOT + "alerts:open"


def alert(alert_id: str) -> str:
    """The hash of one alert."""
    return ALERT_PREFIX + alert_id


def alert_signals(alert_id: str) -> str:
    """The set of signal ids already counted into an alert (a redelivery counts once)."""
    return alert(alert_id) + ":signals"


def alert_events(alert_id: str) -> str:
    """The list of an alert's most recent event ids."""
    return alert(alert_id) + ":events"


def alert_actions(alert_id: str) -> str:
    """The list of remediation request ids made on an alert, oldest first."""
    return alert(alert_id) + ":actions"


def dedup(rule_id: str, dedup_key: str) -> str:
    """The id of the alert that signals of ``rule_id`` with ``dedup_key`` group into."""
    return f"{ROOT}dedup:{rule_id}:{dedup_key}"


# --- remediation requests -------------------------------------------------------------------
def action(action_id: str) -> str:
    """The hash of one remediation request."""
    return f"{ROOT}action:{action_id}"


def action_approvers(action_id: str) -> str:
    """The set of users who approved a request."""
    return action(action_id) + ":approvers"


def action_log(action_id: str) -> str:
    """The approvers of a request in the order they clicked."""
    return action(action_id) + ":log"


# --- mutes ----------------------------------------------------------------------------------
MUTES = ROOT + "mutes"
MUTE_COUNTS = ROOT + "mutes:counts"


def mute(rule_id: str, entity: str) -> str:
    """One mute of ``rule_id`` for ``entity`` (``*``: every entity)."""
    return f"{ROOT}mute:{rule_id}:{entity}"


# --- recent-event store ---------------------------------------------------------------------
EVENT_STORE = ROOT + "es:all"
EVENT_STORE_LAST = ROOT + "es:last"


def event_index(kind: str, value: str) -> str:
    """The index stream of one normalized value (kind: dataset, user, ip or host)."""
    return f"{ROOT}es:ix:{kind}:{value}"


# --- collectors -----------------------------------------------------------------------------
PARSE_STATS = ROOT + "stats:parse"
TAIL_POSITION_PREFIX = ROOT + "pos:"
CLOUDTRAIL_SEEN_PREFIX = ROOT + "seen:ct:"
SPOOL_DONE_PREFIX = ROOT + "spool:done:"


def cloudtrail_seen(event_id: str) -> str:
    """Marks a CloudTrail eventID as sent, for the dedup window."""
    return CLOUDTRAIL_SEEN_PREFIX + event_id


def door_replay(signature: str) -> str:
    """Marks a door webhook signature as seen (a replayed request is refused)."""
    return ROOT + "door:replay:" + hashlib.sha256(signature.encode()).hexdigest()[:32]


def spool_done(name: str, epoch: str) -> str:
    """The set of spool sequence numbers of one spool generation already replayed."""
    return f"{SPOOL_DONE_PREFIX}{name}:{epoch}"


# --- detection rule state -------------------------------------------------------------------
def rule_state(rule_id: str, key: str, part: str) -> str:
    """One rule's state of one kind (``part``: distinct, seen, seq, ...) for one group key."""
    return f"{ROOT}st:{rule_id}:{key}:{part}"


def rule_window(rule_id: str, key: str) -> str:
    """The sliding window (sorted set of event ids by time) of one rule for one group key."""
    return f"{ROOT}win:{rule_id}:{key}"


# --- imported Sigma rules -------------------------------------------------------------------
SIGMA_RULES = ROOT + "sigma:rules"  # hash: socbot rule id -> the Sigma rule's YAML
SIGMA_PROMOTED = ROOT + "sigma:promoted"  # set of imported rule ids that may raise alerts
SIGMA_STAGED = ROOT + "sigma:staged"  # hash: rule id -> signals counted while staged


# --- threat intelligence --------------------------------------------------------------------
INTEL_ADDRESSES = ROOT + "intel:addresses"  # hash: address or range -> the feed that lists it
INTEL_VERSION = ROOT + "intel:version"  # counter: bumped on every refresh (workers reload)
INTEL_FEEDS = ROOT + "intel:feeds"  # hash: feed name -> "<epoch> <entries>" of its last refresh


# --- enrichment -----------------------------------------------------------------------------
def enrichment(source: str, lookup: str) -> str:
    """One cached answer of an enrichment source.

    A long or unprintable lookup (attacker-chosen text from a log) is hashed, so it never
    makes an unbounded or unreadable key.
    """
    if len(lookup) > 128 or not lookup.isprintable():
        lookup = "h:" + hashlib.sha256(lookup.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{ROOT}enrich:{source}:{lookup}"


# --- Slack side -----------------------------------------------------------------------------
NOTIFY_DIRTY = ROOT + "notify:dirty"
NOTIFY_NEWS = ROOT + "notify:news"
NOTIFY_CHANNEL_IDS = ROOT + "notify:channel_ids"  # routed channel name -> the id Slack answered
ESCALATION_DUE = ROOT + "escalate:due"
ESCALATION_COUNT = ROOT + "escalate:count"
VERIFY_DUE = ROOT + "verify:due"


def notify_posting(alert_id: str) -> str:
    """A short lock: one notifier process is posting this alert."""
    return f"{ROOT}notify:posting:{alert_id}"


def notify_intent(alert_id: str) -> str:
    """An alert's post intent: the channel and time of a post that may not have finished."""
    return f"{ROOT}notify:intent:{alert_id}"


def notify_result(action_id: str, status: str) -> str:
    """Set once a request's result in ``status`` was posted in its alert's thread."""
    return f"{ROOT}notify:result:{action_id}:{status}"


def rollup(rollup_id: str) -> str:
    """The hash of one storm rollup (rule, channel, message)."""
    return f"{ROOT}rollup:{rollup_id}"


def rollup_members(rollup_id: str) -> str:
    """A rollup's member alert ids, scored by the time they joined."""
    return f"{ROOT}rollup:{rollup_id}:members"


def rollup_of(alert_id: str) -> str:
    """The rollup an alert belongs to."""
    return f"{ROOT}rollup:member:{alert_id}"


def rollup_active(channel: str, rule_id: str) -> str:
    """The rollup taking new members of a rule in a channel."""
    return f"{ROOT}rollup:active:{channel}:{rule_id}"


def rollup_recent(channel: str, rule_id: str) -> str:
    """Alerts of a rule opened in a channel lately, scored by time (to recognise a storm)."""
    return f"{ROOT}rollup:recent:{channel}:{rule_id}"


def render_lock(alert_id: str) -> str:
    """A short lock: someone is rewriting this alert's Slack message."""
    return f"{ROOT}render:{alert_id}"


def slack_event(event_id: str) -> str:
    """Marks a Slack Events API delivery as handled (a re-delivery is dropped)."""
    return f"{ROOT}slack:event:{event_id[:100]}"


def slack_click(user: str, action_id: str, action_ts: str) -> str:
    """Marks one click (user, button, time) as handled."""
    return f"{ROOT}slack:click:{user[:40]}:{action_id[:100]}:{action_ts[:40]}"


def slack_trigger(trigger_id: str) -> str:
    """Marks a slash command or modal submission (its one-time ``trigger_id``) as handled."""
    return f"{ROOT}slack:trigger:{trigger_id[:100]}"


def slack_signature(signature: str) -> str:
    """Marks a signed Slack request as handled (a replayed request is dropped)."""
    return ROOT + "slack:sig:" + hashlib.sha256(signature.encode()).hexdigest()


def request_lock(alert_id: str, what: str) -> str:
    """Held while one person's Run (or Undo) click opens a request, so two clicks at once
    cannot both pass the "already requested?" check."""
    return f"{ROOT}reqlock:{alert_id}:{what[:120]}"


def ticket(alert_id: str) -> str:
    """The ticket filed for an alert (``creating`` while it is being filed, then its key)."""
    return f"{ROOT}ticket:{alert_id}"


def verify(alert_id: str) -> str:
    """The "was this you?" question asked about one alert."""
    return f"{ROOT}verify:{alert_id}"


def lua_string(text: str) -> str:
    """``text`` as a Lua string literal, to put a key prefix into a script."""
    if "'" in text or "\\" in text or "\n" in text:
        raise ValueError(f"{text!r} cannot be a plain Lua string literal")
    return f"'{text}'"
