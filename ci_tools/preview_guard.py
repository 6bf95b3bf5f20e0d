"""Does a saved `pulumi preview --diff` show a secret? The check CI runs before it posts a diff.

Pulumi prints a secret as `[secret]`, but a diff can still show one: the old value of a property
that became secret (pulumi/pulumi#9330, #4957), a secret that reached a property, an error message
or a build log in another form. So the preview is searched for every secret the stack holds or the
job is given (ci_tools/stack_secrets.py), read every way a secret can be written in it
(ci_tools/preview_views.py: colour codes, escapes, wrapped lines, base64 and gzip+base64 layers):

- a secret as is, or WINDOW or more of its characters in a row (a truncated error message, half of
  a secret split over a wrapped line); for a structured secret (a JSON document, dotenv lines),
  the whole of it or of a secret value inside it;
- a secret in hex, URL-encoded, or in base64 (standard or URL-safe, at any alignment inside a
  longer encoded blob);
- an old value shown as `old => [secret]` on one line or across lines, or as a `-` line followed by
  a `+ [secret]` line for the same property.

Every search is linear in the preview's size. Findings name a line and a secret's label, never a
value.

    python3 -m ci_tools.preview_guard --stack dev preview.txt

reads the secrets through the Pulumi CLI (or saved copies: --input, --state, --config), and exits
0 when the saved preview shows no secret, and 1 with the findings when it does.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

from ci_tools.old_values import old_values_next_to_secret
from ci_tools.preview_views import (
    TooMuchToDecodeError,
    strip_colour,
    views_of,
    without_whitespace,
)
from ci_tools.stack_secrets import MIN_LENGTH, KnownSecret, read_known_secrets
from program.output_reader import (
    OutputsError,
    add_source_arguments,
    add_state_and_config_arguments,
    run_tool,
    tool_parser,
)

# This many characters in a row of a secret are a leak: enough to be no accident, and what a
# truncated message or either half of a wrapped 32-character secret shows.
WINDOW = 16
# The searches look up every GRAM-th slice of the text: any match of 2 * GRAM - 1 characters
# or more holds one whole, so each text is read once whatever the number of secrets.
_GRAM = 8
# A base64 run shorter than this is too likely to occur by chance in unrelated text.
_MIN_ENCODED = 12
_FINDINGS_SHOWN = 50  # a preview that leaks on every line needs no list of every line


def base64_cores(value: bytes) -> set[str]:
    """What base64 of `value` looks like wherever it sits in a longer encoded blob: for each of
    the three alignments, the characters that depend on `value`'s bytes alone."""
    cores = set()
    for pad in range(3):
        shifted = b"\0" * pad + value
        first_group = 1 if pad else 0
        last_group = len(shifted) // 3  # groups before this one are whole
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(shifted).decode()[4 * first_group : 4 * last_group]
            if len(core) >= _MIN_ENCODED:
                cores.add(core)
    return cores


def secret_forms(secret: str) -> set[str]:
    """The encodings of `secret` searched for in a preview (besides the decoded views)."""
    raw = secret.encode()
    forms = {raw.hex(), raw.hex().upper(), quote(secret, safe=""), quote_plus(secret)}
    forms |= base64_cores(raw)
    return {without_whitespace(form) for form in forms if len(form) >= len(secret)}


@dataclass(frozen=True)
class _Pattern:
    text: str
    label: str
    encoded: bool
    partial: bool
    """Any WINDOW characters of it in a row are a finding, not only all of it."""

    @property
    def needed(self) -> int:
        return WINDOW if self.partial else len(self.text)


def _patterns(secrets: Sequence[KnownSecret]) -> list[_Pattern]:
    """What is searched for each secret, each text once, under the first secret's label."""
    patterns: dict[str, _Pattern] = {}

    def add(value: str, label: str, partial: bool) -> None:
        for own in {value, without_whitespace(value)}:
            if len(own) >= MIN_LENGTH:  # `a b c d` without its spaces is no secret
                patterns.setdefault(own, _Pattern(own, label, False, partial and len(own) > WINDOW))
        for form in secret_forms(value):
            patterns.setdefault(form, _Pattern(form, label, True, False))

    for secret in secrets:
        add(secret.value, secret.label, not secret.structured)
    # After every secret's own value: a part that is also a secret of its own keeps that one's
    # label and is searched as one (its prefix too).
    for secret in secrets:
        for part in secret.parts:
            add(part, secret.label, False)
    return list(patterns.values())


@dataclass(frozen=True)
class _Match:
    start: int
    end: int
    pattern: _Pattern
    whole: bool


class _Searcher:
    """Finds every pattern in a text in one pass: a pattern long enough is indexed by its
    GRAM-character slices, so the text is read a slice at every GRAM-th position and each hit
    checked in place; a short one (rare: secrets are long) is looked for on its own."""

    def __init__(self, patterns: Sequence[_Pattern]) -> None:
        self.short = [p for p in patterns if p.needed < 2 * _GRAM - 1]
        self.long = [p for p in patterns if p.needed >= 2 * _GRAM - 1]
        self.index: dict[str, list[tuple[int, int]]] = {}
        for number, pattern in enumerate(self.long):
            # A whole match holds a slice at one of its first GRAM offsets; a partial one
            # at any offset.
            last = len(pattern.text) - _GRAM if pattern.partial else _GRAM - 1
            for offset in range(min(last, len(pattern.text) - _GRAM) + 1):
                piece = pattern.text[offset : offset + _GRAM]
                self.index.setdefault(piece, []).append((number, offset))

    def matches(self, text: str) -> Iterator[_Match]:
        for pattern in self.short:
            at = text.find(pattern.text)
            while at != -1:
                yield _Match(at, at + len(pattern.text), pattern, True)
                at = text.find(pattern.text, at + len(pattern.text))
        lookup = self.index.get
        # Where each pattern's last match ends: hits inside it are that match again, and
        # skipping them keeps even a secret made of one repeated character linear.
        ends = [0] * len(self.long)
        for at in range(0, len(text) - _GRAM + 1, _GRAM):
            for number, offset in lookup(text[at : at + _GRAM], ()):
                if at < ends[number]:
                    continue
                match = _checked(text, at - offset, self.long[number], offset)
                if match is not None:
                    ends[number] = match.end
                    yield match


def _checked(text: str, start: int, pattern: _Pattern, offset: int) -> _Match | None:
    """The match of `pattern` placed at `start` in `text`, known to agree at `offset`."""
    if start >= 0 and text.startswith(pattern.text, start):
        return _Match(start, start + len(pattern.text), pattern, True)
    if pattern.partial:
        # A WINDOW-character run holding the slice that agreed, at its first whole slice.
        for first in range(max(0, offset - _GRAM + 1), min(offset, len(pattern.text) - WINDOW) + 1):
            at = start + first
            if at >= 0 and text.startswith(pattern.text[first : first + WINDOW], at):
                return _Match(at, at + WINDOW, pattern, False)
    return None


def find_revealed_secrets(preview: str, secrets: Sequence[KnownSecret]) -> list[str]:
    """Where the preview shows one of `secrets`: "line N: reason" findings, one per secret and
    line, the most direct reason first."""
    text = strip_colour(preview)
    searcher = _Searcher(_patterns(secrets))
    found: dict[tuple[int, str], tuple[tuple[bool, bool, bool], str]] = {}
    refusals = []
    try:
        for view in views_of(text):
            for match in searcher.matches(view.text):
                first, last = view.line_at(match.start), view.line_at(match.end - 1)
                where = f"line {first}" if first == last else f"lines {first}-{last}"
                what = "the value" if match.whole else f"{WINDOW}+ characters in a row of the value"
                finding = f"{where}: {what} of {match.pattern.label}"
                finding += ", encoded" if match.pattern.encoded else ""
                finding += f", inside {view.how}" if view.how else ""
                rank = (bool(view.how), match.pattern.encoded, not match.whole)
                key = (first, match.pattern.label)
                if key not in found or rank < found[key][0]:
                    found[key] = (rank, finding)
    except TooMuchToDecodeError as error:
        refusals.append(f"{error}: the guard decodes no more, so the rest is unchecked")
    return [found[key][1] for key in sorted(found)] + refusals + old_values_next_to_secret(text)


def read_preview(path: Path, stack: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise OutputsError(
            f"cannot read the preview {path}: {error.strerror}. Save "
            f"`pulumi preview --diff --stack {stack}` to it first"
        ) from None
    except UnicodeDecodeError:
        raise OutputsError(
            f"the preview {path} is not UTF-8 text: save `pulumi preview --diff --color never` "
            "output to it, nothing else"
        ) from None


def verdict(preview: str, secrets: Sequence[KnownSecret], stack: str) -> str:
    """The verdict on a saved preview; raises OutputsError with the findings."""
    findings = find_revealed_secrets(preview, secrets)
    if len(findings) > _FINDINGS_SHOWN:
        findings[_FINDINGS_SHOWN:] = [f"and {len(findings) - _FINDINGS_SHOWN} more"]
    if findings:
        raise OutputsError(
            f"the preview of stack {stack} shows a secret in plain text, so it is not posted:\n  "
            + "\n  ".join(findings)
            + "\nRead the diff where only you see it (`pulumi preview --diff` on your machine). "
            "Mark the value secret from its first write (pulumi.Output.secret or "
            "additional_secret_outputs), and rotate it if it was ever shown"
        )
    return f"the preview of stack {stack} shows no secret\n"


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("ci_tools.preview_guard", __doc__)
    add_source_arguments(parser)
    add_state_and_config_arguments(parser)
    parser.add_argument("preview", type=Path, help="the saved preview")
    args = parser.parse_args(argv)

    def check() -> str:
        preview = read_preview(args.preview, args.stack)
        secrets = read_known_secrets(args.stack, args.input, args.state, args.config, os.environ)
        return verdict(preview, secrets, args.stack)

    return run_tool(check)


if __name__ == "__main__":
    sys.exit(main())
