"""`python3 -m sandbox_storage`: attach, detach and policy from a shell, one line for every
failure (sandbox_storage/__main__.py)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from program.policies import packed, session_policy
from sandbox_storage.__main__ import main
from tests.support.fake_sandbox import FakeSandbox, FakeSts

ENVIRON = {
    "S3_BUCKET_NAME": "b-dev",
    "AWS_REGION": "us-east-1",
    "S3_SANDBOX_STORAGE": "per-sandbox",
}


@pytest.fixture(autouse=True)
def _backend_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)


def test_policy_prints_what_attach_asks_for_without_e2b_or_aws(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def no_e2b(_: str) -> Any:
        raise AssertionError("policy must not connect to a sandbox")

    assert main(["policy", "abc", "--read-prefix", "inputs/"], connect=no_e2b) == 0
    printed = json.loads(capsys.readouterr().out)
    assert packed(printed) == packed(
        session_policy("b-dev", "sandboxes/abc/", read_prefixes=["inputs/"], region="us-east-1")
    )


def test_attach_and_detach_act_on_the_connected_sandbox(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, sts = FakeSandbox(sandbox_id="abc"), FakeSts()
    monkeypatch.setattr("boto3.client", lambda *_a, **_k: sts)
    assert main(["attach", "abc", "--valid-for", "7200"], connect=lambda _id: sandbox) == 0
    assert json.loads(capsys.readouterr().out)["prefix"] == "sandboxes/abc/"
    assert sts.asked[0]["DurationSeconds"] == 7200
    assert main(["detach", "abc"], connect=lambda _id: sandbox) == 0
    assert "--detach" in sandbox.calls[-1][1]


@pytest.mark.parametrize(
    ("argv", "environ", "fragment"),
    [
        (["attach", "abc"], {"S3_SANDBOX_STORAGE": "shared"}, "share the bucket"),
        (["policy", "a/../b"], {}, "makes no key prefix"),
        (["policy", "abc"], {"S3_BUCKET_NAME": ""}, "S3_BUCKET_NAME"),
        (["policy", "abc", "--read-prefix", "/etc/"], {}, "relative key prefix"),
    ],
)
def test_every_failure_is_one_line_naming_the_command_and_the_sandbox(
    argv: list[str],
    environ: dict[str, str],
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(argv, connect=lambda _id: FakeSandbox()) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {argv[0]} {argv[1]}: ") and fragment in error
    assert "\n" not in error and "Traceback" not in error


def test_without_the_e2b_sdk_attach_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "e2b", None)  # importing it now fails
    assert main(["attach", "abc"]) == 1
    assert "the e2b package is not installed: pip install e2b" in capsys.readouterr().err
