"""Does a saved `pulumi preview --diff` show a secret? The check CI runs before it posts a diff.

Pulumi prints a secret as `[secret]`, but a diff can still show one: the old value of a property
that became secret (pulumi/pulumi#9330, #4957), or a secret that reached a property in another
form. So the preview is searched for every secret output's value in the forms a diff can carry it
in, and for old values shown next to `[secret]`:

- as is, also when colour codes (ANSI escapes) are in the text or the value wraps across lines;
- JSON-escaped (`\\/`, `\\u002f`, `\\\\`, `\\"`), URL-encoded, in hex, and in base64 (standard or
  URL-safe, at any alignment inside a longer encoded blob);
- an old value shown as `old => [secret]` on one line or across lines, or as a `-` line followed by
  a `+ [secret]` line for the same property.

Findings name a line and a reason, never the value.

    pulumi stack output --stack dev --json --show-secrets \
        | python3 -m ci_tools.preview_guard --stack dev --input - preview.txt

exits 0 when the saved preview shows no secret, and 1 with the findings when it does.
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote

from program.output_reader import OutputsError, add_source_arguments, read_outputs, run_tool
from program.outputs import SECRET_OUTPUTS

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\(.)")
# `key: old => [secret]`; the old value may go on over lines that do not start another property.
_OLD_VALUE = re.compile(
    r":[ \t]*(?P<old>[^\s\[][^\n]*?(?:\n[ \t]++(?![-+~]?[ \t]*[\w\"\[\].-]+[ \t]*:)[^\n]*?)*?)"
    r"\s*[=-]>\s*\"?\[secret\]\"?"
)
_DIFF_LINE = re.compile(r"^\s*(?P<sign>[-+~])\s*\"?(?P<key>[\w.\[\]\"-]+)\"?\s*:\s*(?P<value>.*)$")
# A base64 run shorter than this is too likely to occur by chance in unrelated text.
_MIN_ENCODED = 12
_HIDDEN = "[secret]"  # how Pulumi shows a secret


def strip_colour(text: str) -> str:
    return _ANSI.sub("", text)


def _json_unescape(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match[1]:
            return chr(int(match[1], 16))
        return {"n": "\n", "t": "\t", "r": "\r"}.get(match[2], match[2])

    return _JSON_ESCAPE.sub(replace, text)


def _without_whitespace(text: str) -> str:
    return re.sub(r"\s+", "", text)


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
    return {_without_whitespace(form) for form in forms if len(form) >= len(secret)}


def _views(line: str) -> Iterable[str]:
    """One line of the preview the ways a secret could be read in it."""
    plain = strip_colour(line)
    for view in (plain, _json_unescape(plain), unquote(plain)):
        yield view
        yield _without_whitespace(view)


def find_revealed_secrets(preview: str, secrets: dict[str, str]) -> list[str]:
    """Where the preview shows one of `secrets` ({name: value}): "line N: reason" findings."""
    findings: list[str] = []
    text = strip_colour(preview)
    lines = text.splitlines()
    for name, value in sorted(secrets.items()):
        if not value:
            continue
        compact = _without_whitespace(value)
        forms = secret_forms(value)
        seen_on_a_line = False
        for number, line in enumerate(lines, start=1):
            views = list(_views(line))
            if any(value in view or compact in view for view in views):
                findings.append(f"line {number}: the value of stack output {name}")
                seen_on_a_line = True
            elif any(form in view for view in views for form in forms):
                findings.append(f"line {number}: the value of stack output {name}, encoded")
                seen_on_a_line = True
        if not seen_on_a_line:
            whole = " ".join(_views(text))
            if compact in whole or any(form in whole for form in forms):
                findings.append(f"the value of stack output {name}, spread over several lines")
    findings += _old_values_next_to_secret(text)
    return findings


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _old_values_next_to_secret(text: str) -> list[str]:
    findings = []
    for match in _OLD_VALUE.finditer(text):
        if match["old"].strip().strip('"') != _HIDDEN:
            at = _line_of(text, match.start())
            findings.append(f"line {at}: the old value of a property that is now secret")
    removed: dict[str, tuple[int, str]] = {}
    for number, text_line in enumerate(text.splitlines(), start=1):
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


def secrets_of(outputs: Mapping[str, object]) -> dict[str, str]:
    """{output name: value} of every secret output the stack has."""
    return {
        name: value
        for name, value in outputs.items()
        if name in SECRET_OUTPUTS and isinstance(value, str) and value
    }


def check_preview(path: Path, outputs: Mapping[str, object], stack: str) -> str:
    """The verdict on a saved preview; raises OutputsError with the findings."""
    try:
        preview = path.read_text(encoding="utf-8")
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
    findings = find_revealed_secrets(preview, secrets_of(outputs))
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
    parser = argparse.ArgumentParser(
        prog="python3 -m ci_tools.preview_guard",
        description="Fail if a saved `pulumi preview --diff` shows a secret in plain text.",
    )
    add_source_arguments(parser)
    parser.add_argument("preview", type=Path, help="the saved preview")
    args = parser.parse_args(argv)
    return run_tool(
        lambda: check_preview(args.preview, read_outputs(args.stack, args.input), args.stack)
    )


if __name__ == "__main__":
    sys.exit(main())
