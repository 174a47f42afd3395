"""The one error a source raises to say why it has no answer (shown with the alert)."""


class SourceUnavailable(Exception):
    """A source cannot answer now: not configured, denied, unreachable. The message is shown
    to people next to the alert, so it says what is missing and, where it can, what to do."""
