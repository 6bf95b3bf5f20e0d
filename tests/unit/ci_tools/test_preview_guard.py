"""The preview guard against every form a secret took in two hostile reviews' previews (issues 11
and 21): colour, wrapping, separate -/+ lines, old values across lines, the secret encoded as
base64, URL, hex or JSON escapes; a prefix of it, base64 of base64 and gzip+base64 of the build
arguments, a secret split over a wrapped build-log line; every secret of the stack, not only its
secret output. Each form must be caught, in linear time; a clean preview must pass."""

from __future__ import annotations

import base64
import gzip
import json
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from ci_tools.preview_guard import base64_cores, find_revealed_secrets, main
from ci_tools.stack_secrets import JOB_CREDENTIALS, KnownSecret
from tests.support.fake_pulumi import FakePulumi
from tests.support.sample_outputs import (
    BUILD_ARGS,
    E2B_API_KEY,
    GREEN_KEY_ID,
    GREEN_SECRET,
    HELD_SECRETS,
    REGISTRY_TOKEN,
    SECRET,
    STACK_CONFIG,
    STACK_OUTPUTS,
    STACK_STATE,
)

SECRETS = [KnownSecret("stack output secretAccessKey", SECRET)]
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
# Forms real tooling produced that passed the guard of issue 11 (issue 21, finding 5).
_DOTENV = BUILD_ARGS.encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


NEW_LEAKS = {
    "a 30-character prefix": f"      error: the key {SECRET[:30]}... is not valid",
    "a 16-character prefix": f"      error: the key {SECRET[:16]}",
    "16 characters from its middle": f"      warning: ...{SECRET[12:28]}...",
    "base64 of base64": f"      ~ userData: {_b64(_b64(_DOTENV).encode())}",
    "gzip+base64": f"      ~ userData: {_b64(gzip.compress(_DOTENV))}",
    "base64 of gzip+base64": f"      ~ userData: {_b64(_b64(gzip.compress(_DOTENV)).encode())}",
    "gzip+base64 of base64": f"      ~ userData: {_b64(gzip.compress(_b64(_DOTENV).encode()))}",
    "gzip+base64, wrapped": f"      ~ userData: {_wrapped(_b64(gzip.compress(_DOTENV)), 76)}",
    "split across a wrapped build-log line": (
        f"    #8 0.512 AWS_SECRET_ACCESS_KEY={SECRET[:20]}\n    #8 0.512 {SECRET[20:]}"
    ),
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


@pytest.mark.parametrize("form", sorted(NEW_LEAKS))
def test_the_forms_that_passed_before_are_found(form: str) -> None:
    preview = f"Previewing update (dev):\n  ~ docker:index:Image: (update)\n{NEW_LEAKS[form]}\n"
    findings = find_revealed_secrets(preview, SECRETS)
    assert findings, form
    assert findings[0].startswith(("line 3:", "lines 3-4:")), findings
    assert not [f for f in findings if SECRET in f or SECRET[:16] in f]


def test_fewer_than_16_characters_of_a_secret_are_no_finding() -> None:
    assert find_revealed_secrets(f"      error: the key {SECRET[:15]}\n", SECRETS) == []


def test_a_prefix_says_what_it_is() -> None:
    (finding,) = find_revealed_secrets(f"x\n      error: {SECRET[:30]}\n", SECRETS)
    assert finding == "line 2: 16+ characters in a row of the value of stack output secretAccessKey"


def test_a_decoded_layer_is_named() -> None:
    preview = f"      ~ userData: {_b64(_b64(gzip.compress(_DOTENV)).encode())}\n"
    (finding,) = find_revealed_secrets(preview, SECRETS)
    assert finding == (
        "line 1: the value of stack output secretAccessKey, inside gzip+base64 inside base64"
    )


@pytest.mark.parametrize(
    "decoration",
    ["", "#8 ", "#8 0.512 ", "2026-12-01T10:00:00.123Z ", "  + ", "[2026-12-01 10:00:00] "],
)
def test_a_short_secret_split_over_a_wrapped_line_is_found(decoration: str) -> None:
    secret = KnownSecret("secret config e2b-sandbox:token", "s3cr3t-config-value-2026")
    preview = f"    {decoration}TOKEN={secret.value[:12]}\n    {decoration}{secret.value[12:]}\n"
    findings = find_revealed_secrets(f"header\n{preview}", [secret])
    assert findings == ["lines 2-3: the value of secret config e2b-sandbox:token"]


def test_encoding_layers_are_decoded_a_bounded_number_of_times() -> None:
    layers = [_DOTENV]
    for _ in range(6):
        layers.append(_b64(layers[-1]).encode())
    found = [
        bool(find_revealed_secrets(f"      ~ a: {layer.decode()}\n", SECRETS)) for layer in layers
    ]
    # The secret's own base64 forms find the first layer; MAX_LAYERS decodings the next four.
    assert found == [True] * 6 + [False]


def test_a_gzip_bomb_is_refused_not_inflated_without_end() -> None:
    bomb = _b64(gzip.compress(b"\0" * (65 * 1024 * 1024)))
    findings = find_revealed_secrets(f"      ~ userData: {bomb}\n", SECRETS)
    assert findings == [
        "the preview holds more than 64 MiB of encoded data: the guard decodes no more, "
        "so the rest is unchecked"
    ]


def test_a_1mb_line_takes_seconds_not_hours() -> None:
    """The one timed test (issue 21 asks for it): the old-value search was quadratic (50,000
    `:a` pairs took 47 s). One line of 1 MB: `:a` pairs, a minified JSON value and a base64 blob,
    then the secret and an arrow to `[secret]`, which the guard must still reach and find."""
    third = 1024 * 1024 // 3
    pairs = ":a" * (third // 2)
    document = json.dumps({f"key{i}": f"value:{i}" for i in range(third // 16)})
    blob = _b64(("word " * third).encode())
    line = f"      ~ doc: {pairs}{document[:third]}{blob[:third]} {SECRET} => [secret]"
    assert len(line) > 1024 * 1024
    start = time.perf_counter()
    findings = find_revealed_secrets(f"header\n{line}\n", SECRETS)
    elapsed = time.perf_counter() - start
    assert findings == [
        "line 2: the value of stack output secretAccessKey",
        "line 2: the old value of a property that is now secret",
    ]
    assert elapsed < 10, f"{elapsed:.1f} s"


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
        for name in JOB_CREDENTIALS:
            monkeypatch.delenv(name, raising=False)
        Path("outputs.json").write_text(json.dumps(STACK_OUTPUTS))
        Path("state.json").write_text(json.dumps(STACK_STATE))
        Path("config.json").write_text(json.dumps(STACK_CONFIG))

    @staticmethod
    def _run(preview: str) -> int:
        sources = ["--input", "outputs.json", "--state", "state.json", "--config", "config.json"]
        return main(["--stack", "dev", *sources, preview])

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
        ("leak", "finding"),
        [
            (
                f"      ~ secret: {GREEN_SECRET}",
                "the value of resource sandbox-green (aws:iam/accessKey:AccessKey), outputs.secret",
            ),
            (
                f"      error: E2B refused the key {E2B_API_KEY[:20]}",
                "16+ characters in a row of the value of secret config e2b-sandbox:e2bApiKey",
            ),
            (
                f"      docker login -u AWS -p {REGISTRY_TOKEN}",
                "the value of resource sandbox-template (pulumi-python:dynamic:Resource), "
                "inputs.registryPassword",
            ),
            (
                '      ~ secretString: {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", '
                f'"AWS_SECRET_ACCESS_KEY": "{SECRET}"}}',
                "the value of resource sandbox-secret-version "
                "(aws:secretsmanager/secretVersion:SecretVersion), inputs.secretString",
            ),
            (
                "      AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN",
                "the value of the job's AWS_SESSION_TOKEN",
            ),
        ],
    )
    def test_every_secret_of_the_stack_and_the_job_is_searched_for(
        self,
        leak: str,
        finding: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN")
        assert self._check(f"header\n{leak}\n") == 1
        error = capsys.readouterr().err
        assert f"line 2: {finding}" in error
        for secret in (*HELD_SECRETS, "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN"):
            assert secret[:16] not in error

    def test_a_realistic_preview_of_a_rotation_passes(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """What the stack holds in plain text (the keys' ids, the registry's host in the image's
        name, the override) is no secret, also next to a secret's own structure."""
        user_data = _b64(b"#!/bin/sh\nexport AWS_REGION=eu-west-1\necho started\n")
        image = STACK_OUTPUTS["imageRef"]
        preview = "\n".join(
            [
                "Previewing update (dev):",
                "  pulumi:pulumi:Stack: (same)",
                "    [urn=urn:pulumi:dev::e2b-sandbox::pulumi:pulumi:Stack::e2b-sandbox-dev]",
                "    + aws:iam/accessKey:AccessKey: (create)",
                '        user      : "e2b-sandbox-dev-s3"',
                "    ~ aws:secretsmanager/secretVersion:SecretVersion: (update)",
                "      ~ secretString: [secret] => [secret]",
                "    ~ docker:index/image:Image: (update)",
                f'      ~ imageName: "{image}" => "{image}"',
                "        registry  : [secret]",
                '      ~ build: { args: { SANDBOX_CREDENTIALS: [secret], START_SCRIPT: "/x.sh" } }',
                f"      ~ userData: {user_data}",
                f'        accessKeyId: "AKIAIOSFODNN7EXAMPLE" => "{GREEN_KEY_ID}"',
                f'        composeOverride: "{STACK_OUTPUTS["composeOverride"]!r}"',
                "    #8 0.512 Successfully built 0123456789ab",
                "    #8 0.513 AWS_SECRET_ACCESS_KEY=[secret]",
                "Resources:",
                "    ~ 3 to update",
                "    + 1 to create",
            ]
        )
        assert self._check(preview + "\n") == 0, capsys.readouterr().err
        assert "shows no secret" in capsys.readouterr().out

    def test_a_preview_leaking_on_every_line_lists_the_first_fifty(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert self._check(f"      ~ secret: {SECRET}\n" * 60) == 1
        error = capsys.readouterr().err
        assert "line 50: the value of stack output secretAccessKey" in error
        assert "line 51:" not in error
        assert "and 10 more" in error

    def test_reading_the_secrets_from_the_pulumi_cli_without_printing_them(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("PATH", FakePulumi(tmp_path / "fake").path)
        Path("preview.txt").write_text(f"      ~ secret: {GREEN_SECRET}\n")
        assert main(["--stack", "dev", "preview.txt"]) == 1
        captured = capsys.readouterr()
        assert "line 1: the value of resource sandbox-green" in captured.err
        assert GREEN_SECRET not in captured.out + captured.err

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
