"""Making text that came from outside safe to show: no terminal escapes, no credentials.

Server strings (file names, redirect targets, error bodies) and manifest text reach the terminal
inside zoo's messages. An escape sequence in them could rewrite the screen or the window title,
and a bidi control could make a name read as another; a URL with `user:password@` (in
HF_ENDPOINT, a proxy, a mirror's redirect) would show the password. The terminal wrapper passes
everything it prints through `for_terminal`, so no message needs to remember to.
"""

from __future__ import annotations

import re
import unicodedata

# scheme://user[:password]@host  ->  scheme://***@host
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by ***."""
    return _USERINFO.sub(r"\1***@", text)


def is_hidden(ch: str) -> bool:
    """A character that changes how text displays without showing itself: C0/C1 controls (but tab and
    newline), DEL, and Unicode format characters (bidi overrides, zero-width joiners and spaces)."""
    if ch in "\n\t":
        return False
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F or unicodedata.category(ch) == "Cf"


def printable(text: str) -> str:
    """`text` with every hidden character shown as its escape (\\x1b, \\u202e) instead of acting."""
    if not any(is_hidden(ch) for ch in text):
        return text
    return "".join(ch.encode("unicode_escape").decode("ascii") if is_hidden(ch) else ch for ch in text)


def for_terminal(text: str) -> str:
    return printable(redact(text))
