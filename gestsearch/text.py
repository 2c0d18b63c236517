"""Text that any terminal or UTF-8 file can hold, whatever file names it quotes.

A file name need not be valid UTF-8; Python carries its undecodable bytes as lone surrogates
(U+DC80-U+DCFF), which no UTF-8 stream can write.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with such bytes shown as ``\\xNN``: for messages and tables (it cannot be undone)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def json_text(data: Any, indent: int | None = 2) -> str:
    """``data`` as JSON text ending in a newline; such bytes become ``\\udcNN`` escapes, which JSON
    readers turn back into the same Python path: nothing is lost."""
    text = json.dumps(data, indent=indent, ensure_ascii=False, default=str)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"
