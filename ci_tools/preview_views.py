"""A saved preview read every way a secret could be written in it, each a View the guard searches.

- as printed, colour codes (ANSI escapes) removed; JSON-unescaped (`\\/`, `\\u002f`, `\\\\`,
  `\\"`); URL-decoded;
- each of those with its lines joined: every line's leading decoration (indentation, a diff sign,
  a build log's `#12 0.345` step and time, a timestamp) and all whitespace removed, so that a
  value wrapped across lines, also in a build log, reads as one;
- every base64 run (standard or URL-safe, also wrapped across lines) decoded, and inflated when
  it holds gzip, with the same views of the text it holds, up to MAX_LAYERS times in depth and
  DECODED_LIMIT characters in all: past that the preview cannot be checked (TooMuchToDecodeError).

Each step is linear in the text it reads. Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

MAX_LAYERS = 4
DECODED_LIMIT = 64 * 1024 * 1024
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\(.)")
_LINE_DECORATION = re.compile(
    r"[ \t]*(?:[-+~][ \t]+)?(?:#\d+(?:[ \t]+\d+\.\d+)?[ \t]+)?"
    r"(?:\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?[ \t]+)?"
)
_WHITESPACE = re.compile(r"\s+")
# Shorter runs are words and identifiers far more often than encoded data.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_URL_SAFE = str.maketrans("-_", "+/")
_GZIP_MAGIC = b"\x1f\x8b"


class TooMuchToDecodeError(Exception):
    """The preview holds more encoded data than the guard decodes: it cannot be checked."""


@dataclass(frozen=True)
class View:
    text: str
    line_starts: tuple[int, ...]
    """Where in `text` each line of the preview, from `first_line` on, begins."""
    first_line: int
    how: str = ""
    """How the text was decoded from the preview: "" (as printed), "base64", "gzip+base64"."""

    def line_at(self, offset: int) -> int:
        if self.how:  # decoded text: all of it is on the line its encoded run starts on
            return self.first_line
        return self.first_line + max(bisect_right(self.line_starts, offset) - 1, 0)


def without_whitespace(text: str) -> str:
    """The text with every space, tab and line break taken out."""
    return _WHITESPACE.sub("", text)


def strip_colour(text: str) -> str:
    return _ANSI.sub("", text)


def _json_unescape(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match[1]:
            return chr(int(match[1], 16))
        return {"n": "\n", "t": "\t", "r": "\r"}.get(match[2], match[2])

    return _JSON_ESCAPE.sub(replace, text)


def _joined(line: str) -> str:
    # The pattern matches (maybe nothing) at the line's start, so its first match is the lead.
    return without_whitespace(_LINE_DECORATION.sub("", line, count=1))


def _view(lines: list[str], separator: str, first_line: int, how: str) -> View:
    starts, offset = [], 0
    for line in lines:
        starts.append(offset)
        offset += len(line) + len(separator)
    return View(separator.join(lines), tuple(starts), first_line, how)


class _Decoder:
    """Decodes a preview's base64 runs, layer by layer, within DECODED_LIMIT characters."""

    def __init__(self) -> None:
        self.decoded = 0
        self.seen: set[str] = set()

    def layers(self, view: View, depth: int) -> Iterator[View]:
        if depth >= MAX_LAYERS:
            return
        for run in _BASE64_RUN.finditer(view.text):
            if run[0] in self.seen:
                continue
            self.seen.add(run[0])
            decoded = self._decode(run[0])
            if decoded is not None:
                kind, text = decoded
                how = f"{kind} inside {view.how}" if view.how else kind
                yield from views_of(text, view.line_at(run.start()), how, self, depth + 1)

    def _decode(self, run: str) -> tuple[str, str] | None:
        """("base64" or "gzip+base64", the text) of a run, at the first alignment that decodes
        to text: a run glued to the word before it is read from one to three characters on,
        and the few characters that word decodes to are let through."""
        for skip in range(4):
            core = run[skip:].rstrip("=").translate(_URL_SAFE)
            core = core[: len(core) - 1] if len(core) % 4 == 1 else core
            try:
                data = base64.b64decode(core + "=" * (-len(core) % 4), validate=True)
            except binascii.Error:
                continue
            if data.startswith(_GZIP_MAGIC):
                return "gzip+base64", self._inflate(data)
            text = data.decode("utf-8", errors="replace")
            # Random bytes (an image, a hash, a word that is no base64) are no text.
            if text.count("\ufffd") <= 2 + len(text) // 100:
                self._count(len(text))
                return "base64", text
        return None

    def _inflate(self, data: bytes) -> str:
        room = DECODED_LIMIT - self.decoded
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            inflated = inflater.decompress(data, room + 1)
        except zlib.error:
            inflated = b""  # not gzip after all, or cut short: the base64 forms still apply
        text = inflated.decode("utf-8", errors="replace")
        self._count(len(text) if len(inflated) <= room else room + 1)
        return text

    def _count(self, characters: int) -> None:
        self.decoded += characters
        if self.decoded > DECODED_LIMIT:
            raise TooMuchToDecodeError(
                f"the preview holds more than {DECODED_LIMIT // 2**20} MiB of encoded data"
            )


def views_of(
    text: str, first_line: int = 1, how: str = "", decoder: _Decoder | None = None, depth: int = 0
) -> Iterator[View]:
    """Every view of `text` (colour codes already removed), decoded layers included; raises
    TooMuchToDecodeError past DECODED_LIMIT."""
    decoder = decoder or _Decoder()
    lines = text.split("\n")
    seen: set[str] = set()
    for change in (str, _json_unescape, unquote):
        # Changed line by line: an unescaped `\n` starts no line of the preview.
        changed = [change(line) for line in lines]
        view = _view(changed, "\n", first_line, how)
        if view.text in seen:
            continue
        seen.add(view.text)
        joined = _view([_joined(line) for line in changed], "", first_line, how)
        yield view
        yield joined
        yield from decoder.layers(view, depth)
        yield from decoder.layers(joined, depth)
