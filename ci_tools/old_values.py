"""Old values a `pulumi preview --diff` shows next to a new `[secret]` (pulumi/pulumi#9330,
#4957): Pulumi prints the value a property had before it became secret, whatever that value is,
so the guard cannot know it in advance and looks for its shape instead:

- `key: old => [secret]` (or `->`), also with the old value or the arrow on following indented
  lines;
- a `- key: old` line followed by a `+ key: [secret]` line for the same key.

Linear in the text: each character is looked at a bounded number of times. Standard library only.
"""

from __future__ import annotations

import re
from bisect import bisect_right

_HIDDEN = "[secret]"  # how Pulumi shows a secret
_ARROW_TO_SECRET = re.compile(r'[=-]>[ \t]*"?\[secret\]"?')
_DIFF_LINE = re.compile(r"^\s*(?P<sign>[-+~])\s*\"?(?P<key>[\w.\[\]\"-]+)\"?\s*:\s*(?P<value>.*)$")


class _Lines:
    """Line numbers of offsets in a text, found without rescanning it."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [match.end() for match in re.finditer("\n", text)]

    def at(self, offset: int) -> int:
        return bisect_right(self.starts, offset)


def _colon_before(text: str, arrow: int, floor: int) -> int | None:
    """The colon that starts the property whose old value ends at `arrow`: on the arrow's line,
    or on an earlier line that an indented continuation line carries on. Never before `floor`,
    the end of the arrow before: so each character is looked at once."""
    end = arrow
    while end > floor:
        line_start = max(text.rfind("\n", floor, end) + 1, floor)
        colon = text.rfind(":", line_start, end)
        if colon != -1:
            return colon
        if line_start == floor or text[line_start : line_start + 1] not in (" ", "\t"):
            return None
        end = line_start - 1
    return None


def old_values_next_to_secret(text: str) -> list[str]:
    findings = []
    lines = _Lines(text)
    floor = 0
    for arrow in _ARROW_TO_SECRET.finditer(text):
        colon = _colon_before(text, arrow.start(), floor)
        floor = arrow.end()
        if colon is None:
            continue
        old = text[colon + 1 : arrow.start()].strip().strip('"')
        if old and old != _HIDDEN:
            at = lines.at(colon)
            findings.append(f"line {at}: the old value of a property that is now secret")
    removed: dict[str, tuple[int, str]] = {}
    for number, text_line in enumerate(text.split("\n"), start=1):
        diff = _DIFF_LINE.match(text_line)
        if diff is None:
            continue
        value = diff["value"].strip().strip('"')
        if diff["sign"] == "-":
            removed[diff["key"]] = (number, value)
        elif diff["sign"] == "+" and value == _HIDDEN and diff["key"] in removed:
            old_number, old_value = removed.pop(diff["key"])
            if old_value and old_value != _HIDDEN:
                findings.append(
                    f"line {old_number}: the old value of {diff['key']}, now secret (line {number})"
                )
    return findings
