"""The preview guard against every form a secret took in a hostile review's previews (issue 11):
colour, wrapping, separate -/+ lines, old values across lines, and the secret encoded as base64,
URL, hex or JSON escapes. Each form must be caught; a clean preview must pass."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from ci_tools.preview_guard import base64_cores, find_revealed_secrets, main
from tests.support.sample_outputs import SECRET, STACK_OUTPUTS

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


class TestCommandLine:
    """`python3 -m ci_tools.preview_guard`, exactly as preview.yml runs it."""

    @pytest.fixture(autouse=True)
    def _in_tmp(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        Path("outputs.json").write_text(json.dumps(STACK_OUTPUTS))

    @staticmethod
    def _run(preview: str) -> int:
        return main(["--stack", "dev", "--input", "outputs.json", preview])

    def _check(self, preview: str) -> int:
        Path("preview.txt").write_text(preview)
        return self._run("preview.txt")

    def test_a_preview_with_secrets_shown_as_secret_passes(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        preview = (
            "  ~ aws:secretsmanager/secretVersion:SecretVersion: (update)\n"
            "      ~ secretString: [secret] => [secret]\n"
            "      + secret      : [secret]\n"
            '      ~ tags        : "a" => "b"\n'
        )
        assert self._check(preview) == 0
        assert "shows no secret" in capsys.readouterr().out

    def test_a_current_secret_value_anywhere_fails_without_repeating_it(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert self._check(f'ok\n      ~ secretString: "{{\\"k\\": \\"{SECRET}\\"}}"\n') == 1
        error = capsys.readouterr().err
        assert "line 2: the value of stack output secretAccessKey" in error
        assert SECRET not in error

    @pytest.mark.parametrize(
        "line",
        [
            '          MY_TOKEN    : "{00000000-0000-0000-0000-000000000000}" => "[secret]"',
            "      ~ password: hunter2 => [secret]",
        ],
    )
    def test_an_old_value_shown_next_to_a_new_secret_fails(
        self, line: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert self._check(f"header\n{line}\n") == 1
        assert "line 2: the old value of a property that is now secret" in capsys.readouterr().err

    def test_an_unreadable_preview_is_reported(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert self._run("missing.txt") == 1
        assert "cannot read the preview missing.txt" in capsys.readouterr().err

    def test_a_preview_that_is_not_utf8_is_refused(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        Path("preview.bin").write_bytes(b"\xff\xfe\x00binary")
        assert self._run("preview.bin") == 1
        assert "not UTF-8 text" in capsys.readouterr().err
