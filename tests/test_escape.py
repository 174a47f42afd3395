"""Escaping untrusted text for Slack, and shortening it safely."""

from __future__ import annotations

import re

import pytest

from socbot.bot.escape import ELLIPSIS, escape, escape_truncate, truncate


def test_control_characters_of_slack_become_entities() -> None:
    assert escape("<!channel> a&b <@U123>") == "&lt;!channel&gt; a&amp;b &lt;@U123&gt;"


def test_an_entity_written_by_an_attacker_is_shown_literally() -> None:
    assert escape("&lt;!here&gt;") == "&amp;lt;!here&amp;gt;"


def test_nul_and_other_c0_controls_are_shown_visibly_but_newline_and_tab_kept() -> None:
    assert escape("a\x00b\x1b[2J\rc\x7f") == "a\\x00b\\x1b[2J\\x0dc\\x7f"
    assert escape("line1\nline2\tx") == "line1\nline2\tx"


def test_other_characters_are_left_alone() -> None:
    text = "*bold* _it_ `code` \"quoted\" 'ssid,with,commas' émoji ☃ :skull:"
    assert escape(text) == text


def test_non_strings_and_bytes_are_escaped_as_text() -> None:
    assert escape(None) == ""
    assert escape(42) == "42"
    assert escape(b"caf\xc3\xa9 <x> \xff") == "café &lt;x&gt; \\xff"


def test_truncate_keeps_short_text_and_respects_the_limit() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("a" * 20, 10) == "a" * 9 + ELLIPSIS
    assert len(truncate("a" * 20, 10)) == 10


@pytest.mark.parametrize("limit", range(1, 40))
def test_truncate_never_cuts_inside_an_entity(limit: int) -> None:
    escaped = escape("<<&&>>" * 5 + "&lt;")
    cut = truncate(escaped, limit)
    assert len(cut) <= limit
    body = cut.removesuffix(ELLIPSIS)
    # Whatever remains is whole entities and plain text: no '&' without its ';'.
    assert re.fullmatch(r"(?:&(?:amp|lt|gt);|[^&])*", body), cut


def test_escape_truncate_escapes_before_counting() -> None:
    assert escape_truncate("<" * 10, 12) == "&lt;&lt;" + ELLIPSIS


def test_bidi_overrides_and_zero_width_characters_are_made_visible() -> None:
    # "evil\u202Egpj.exe" displays as "evilexe.jpg"; "ad\u200Bmin" displays as "admin".
    assert escape("evil\u202egpj.exe") == "evil&lt;U+202E&gt;gpj.exe"
    assert escape("ad\u200bmin") == "ad&lt;U+200B&gt;min"
    spoofers = "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e" \
               "\u2060\u2066\u2067\u2068\u2069\ufeff"
    shown = escape(spoofers)
    assert all(ch not in shown for ch in spoofers)
    assert shown.count("&lt;U+") == len(spoofers)


def test_visible_invisibles_are_never_cut_in_half() -> None:
    text = escape("x" * 10 + "\u202e" + "y" * 10)
    for limit in range(2, len(text)):
        cut = truncate(text, limit)
        assert "&lt;U+202" not in cut or "&lt;U+202E&gt;" in cut
