"""The preview guard against every form a secret took in a hostile review's previews (issue 11):
colour, wrapping, separate -/+ lines, old values across lines, and the secret encoded as base64,
URL, hex or JSON escapes. Each form must be caught; a clean preview must pass."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from tools.preview_guard import base64_cores, find_revealed_secrets

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY/EXAMPLE=="
SECRETS = {"secretAccessKey": SECRET}
RED, GREEN, RESET = "\x1b[31m", "\x1b[32m", "\x1b[0m"


def _wrapped(text: str, width: int = 20) -> str:
    return "\n        ".join(text[i : i + width] for i in range(0, len(text), width))


LEAKS = {
    "plain": f'      ~ secretString: "{SECRET}"',
    "in a JSON document": f'      ~ secretString: "{{\\"k\\": \\"{SECRET}\\"}}"',
    "coloured": f'      ~ secretString: {RED}"{SECRET[:10]}{RESET}{RED}{SECRET[10:]}"{RESET}',
    "wrapped across lines": f"      ~ value: {_wrapped(SECRET)}",
    "JSON slash escaped": f'      ~ doc: "{SECRET.replace("/", chr(92) + "/")}"',
    "JSON unicode escaped": f'      ~ doc: "{SECRET.replace("/", chr(92) + "u002f")}"',
    "JSON unicode escaped, upper": f'      ~ doc: "{SECRET.replace("+", chr(92) + "u002B")}"',
    "URL-encoded": f"      ~ url: https://host/?key={quote(SECRET, safe='')}",
    "hex": f"      ~ blob: {SECRET.encode().hex()}",
    "hex, upper case": f"      ~ blob: {SECRET.encode().hex().upper()}",
    "base64": f"      ~ userData: {base64.b64encode(SECRET.encode()).decode()}",
    "base64 inside a longer blob": "      ~ userData: "
    + base64.b64encode(b"export KEY=" + SECRET.encode() + b"\n").decode(),
    "base64, second alignment": "      ~ userData: "
    + base64.b64encode(b"xy" + SECRET.encode()).decode(),
    "URL-safe base64": f"      ~ token: {base64.urlsafe_b64encode(SECRET.encode()).decode()}",
    "base64 wrapped": "      ~ userData: "
    + _wrapped(base64.b64encode(b"k=" + SECRET.encode()).decode(), 16),
}
OLD_VALUES = {
    "old => [secret]": "      ~ password: hunter2 => [secret]",
    'quoted old => "[secret]"': '      MY_TOKEN : "{0000-1111}" => "[secret]"',
    "coloured old value": f"      ~ password: {RED}hunter2{RESET} => {GREEN}[secret]{RESET}",
    "old value across lines": '      ~ policy: "line one\n          line two" => [secret]',
    "arrow on the next line": "      ~ password: hunter2\n          => [secret]",
    "separate - and + lines": '      - apiKey: "sk-old-value"\n      + apiKey: [secret]',
}


@pytest.mark.parametrize("form", sorted(LEAKS))
def test_the_secret_is_found_in_every_form(form: str) -> None:
    preview = f"Previewing update (dev):\n  ~ aws:x:Y: (update)\n{LEAKS[form]}\nResources: 1\n"
    findings = find_revealed_secrets(preview, SECRETS)
    assert findings, form
    assert not [f for f in findings if SECRET in f]


@pytest.mark.parametrize("form", sorted(OLD_VALUES))
def test_an_old_value_next_to_a_new_secret_is_found(form: str) -> None:
    findings = find_revealed_secrets(f"header\n{OLD_VALUES[form]}\n", SECRETS)
    assert [f for f in findings if "old value" in f], form
    assert "hunter2" not in " ".join(findings)


def test_a_line_number_is_given_where_one_line_holds_it() -> None:
    (finding,) = find_revealed_secrets(f"a\nb\n{LEAKS['plain']}\n", SECRETS)
    assert finding == "line 3: the value of stack output secretAccessKey"


@pytest.mark.parametrize(
    "clean",
    [
        "      ~ secretString: [secret] => [secret]",
        "      + secret: [secret]",
        '      ~ tags: "a" => "b"',
        f"      ~ other: {base64.b64encode(b'nothing to see here at all').decode()}",
        f'      ~ {RED}name{RESET}: "x" => "y"',
        "      - apiKey: [secret]\n      + apiKey: [secret]",
        json.dumps({"wJalrXUtnFEMI": "K7MDENG"}),  # pieces of it, never the whole
    ],
)
def test_a_preview_without_the_secret_passes(clean: str) -> None:
    assert find_revealed_secrets(f"Previewing update (dev):\n{clean}\n", SECRETS) == []


def test_base64_cores_cover_every_alignment() -> None:
    cores = base64_cores(SECRET.encode())
    for prefix in (b"", b"a", b"ab", b"abc"):
        encoded = base64.b64encode(prefix + SECRET.encode() + b"tail").decode()
        assert any(core in encoded for core in cores), prefix
