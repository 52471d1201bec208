"""Log lines that a client cannot forge.

A request's path (`%0a` decodes to a newline), a header or any other text a client chooses can
reach a log message. Written raw, a newline starts what looks like a line of its own (a forged
entry: "… status=200 user=<admin>") and an ANSI escape rewrites what a terminal shows. Every
message is escaped once, where it is formatted, so no logger of ours or of a library can forget.
"""

import logging
import re

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators (some viewers break
# lines on them too).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def log_escape(text: str) -> str:
    """`text` with every control character written as a visible escape (`\\x0a`, `\\x1b`)."""
    return _CONTROLS.sub(_escape, text)


class SafeFormatter(logging.Formatter):
    """A Formatter whose message part is escaped; a traceback (added after it) keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging.Formatter names it
        record.message = log_escape(record.message)
        return super().formatMessage(record)
