"""The backend host's mount command: where it finds the key pair and what it hands the program."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backend_host import host_mount
from tests.support.sample_outputs import SHARED_OUTPUTS


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("outputs.json").write_text(json.dumps(SHARED_OUTPUTS))


def test_an_org_qualified_stack_finds_the_key_where_the_bundle_wrote_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Path("build/dev").mkdir(parents=True)
    Path("build/dev/e2b-s3.env").write_text('AWS_ACCESS_KEY_ID="AKIAX"\n')
    calls: list[list[str]] = []

    def run(argv: list[str], **_kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(subprocess, "run", run)
    assert (
        host_mount.main(["--stack", "acme/e2b-sandbox/dev", "--input", "outputs.json", "--check"])
        == 0
    )
    (argv,) = calls
    assert argv[1:] == [
        "-m",
        "s3mount",
        "check",
        "--env-file",
        str(Path.cwd() / "build/dev/e2b-s3.env"),
    ]


def test_a_missing_key_file_is_named_with_the_command_that_writes_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert host_mount.main(["--stack", "acme/e2b-sandbox/dev", "--input", "outputs.json"]) == 1
    error = capsys.readouterr().err
    assert "no key pair at build/dev/e2b-s3.env" in error
    assert "python3 -m backend_host.bundle --stack acme/e2b-sandbox/dev --format env" in error
