"""Make untrusted text safe to show in Slack, and shorten it without breaking the escaping.

Slack gives meaning to three characters only: ``&``, ``<`` and ``>``. Unescaped, an attacker's
username ``<!channel>`` pings a whole channel, ``<!subteam^S123>`` pages a group and
``<https://evil.example|Approve>`` renders a disguised link. :func:`escape` turns exactly those
three into entities (``&`` first, so ``&lt;`` written by an attacker is shown literally, as
``&amp;lt;``) and shows C0 control characters as visible ``\\xNN`` text, because Slack refuses
NUL and a stray carriage return or escape byte only confuses readers. Characters that change
how text *looks* without being seen (bidirectional overrides and isolates, which make
``evil\u202egpj.exe`` display as ``evilexe.jpg``, and zero-width characters, which make
``ad\u200bmin`` look like ``admin``) are shown by their code point, ``<U+202E>``.

Every string that came from an event, a record or a user goes through :func:`escape` before it
is put in a block or in a message's fallback text; text the bot writes itself does not.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, plus DEL: none can be shown, NUL cannot even be sent.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Invisible characters that reorder or join what is displayed: Arabic letter mark, zero-width
# space/non-joiner/joiner, LRM/RLM, LRE/RLE/PDF/LRO/RLO, word joiner, LRI/RLI/FSI/PDI, BOM.
_SPOOFING = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_SHOWN_LEN = len("&lt;U+202E&gt;")
_SPOOFING_SHOWN = re.compile(r"&lt;U\+[0-9A-F]{4}&gt;")
_ENTITY_MAX = len("&amp;")
ELLIPSIS = "…"


def _visible(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def _code_point(match: re.Match[str]) -> str:
    return f"&lt;U+{ord(match.group()):04X}&gt;"


def escape(text: object) -> str:
    """Return ``text`` as a string Slack shows literally: no mentions, links or date tokens.

    >>> escape("<!channel> & <@U1>")
    '&lt;!channel&gt; &amp; &lt;@U1&gt;'
    >>> escape("&lt;")
    '&amp;lt;'
    >>> escape("a\\x00b")
    'a\\\\x00b'
    """
    if text is None:
        return ""
    if isinstance(text, bytes):
        # SSIDs and other raw fields may hold any bytes; show undecodable ones as \xNN.
        text = text.decode("utf-8", errors="backslashreplace")
    value = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPOOFING.sub(_code_point, _CONTROL.sub(_visible, value))


def truncate(text: str, limit: int) -> str:
    """Shorten already escaped ``text`` to at most ``limit`` characters, ending with "…".

    The cut never falls inside an entity such as ``&amp;``: half an entity would show as junk,
    and could combine with what follows it into a different character.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    # In escaped text every "&" starts an entity, so an "&" without its ";" before the cut
    # means the cut is inside one: move the cut to just before the "&".
    amp = text.rfind("&", max(0, cut - _ENTITY_MAX + 1), cut)
    if amp != -1 and ";" not in text[amp:cut]:
        cut = amp
    # Nor inside a shown code point: "&lt;U+20" would hide which character stood there.
    shown = text.rfind("&lt;U+", max(0, cut - _SHOWN_LEN + 1), cut)
    if shown != -1 and _SPOOFING_SHOWN.match(text, shown) and cut < shown + _SHOWN_LEN:
        cut = shown
    return text[:cut] + ELLIPSIS


def escape_truncate(text: object, limit: int) -> str:
    """:func:`escape` then :func:`truncate`: the usual way to put a field into a block."""
    return truncate(escape(text), limit)
