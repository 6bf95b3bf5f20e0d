"""The backend host's by-hand mount: it reads the files the bundle wrote (the unit's settings, the
key beside it), never the Pulumi CLI, and --check and --unmount need no key
(backend_host/host_mount.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backend_host import host_mount
from backend_host.unit_environment import environment_line
from tests.support.sample_outputs import SHARED_OUTPUTS

# An endpoint with every character the unit's quoting must carry through.
SETTINGS = {
    "S3_BUCKET_NAME": "e2b-sandbox-dev-x",
    "S3_MOUNT_DIR": "/opt/sentient",
    "S3_ENDPOINT_URL": 'http://h:9/%n"x\\',
}
Call = tuple[list[str], dict[str, str]]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # No pulumi anywhere: the tool must not need it.
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Every command the tool runs, with its environment; each answers 0."""
    recorded: list[Call] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        recorded.append((argv, kwargs["env"]))
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(subprocess, "run", run)
    return recorded


def bundle_wrote(directory: str = "build/dev", key: bool = True) -> None:
    """What `backend_host.bundle` leaves for the host: the unit and, with the key, the env file."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    unit = "[Service]\n" + "".join(f"{environment_line(n, v)}\n" for n, v in SETTINGS.items())
    Path(directory, "e2b-s3-mount.service").write_text(unit)
    if key:
        Path(directory, "e2b-s3.env").write_text('AWS_ACCESS_KEY_ID="AKIAX"\n')


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    return line


def test_mount_uses_the_units_settings_and_the_key_beside_it(calls: list[Call]) -> None:
    bundle_wrote()
    # An org-qualified stack's files are under its own name, where the bundle wrote them.
    assert host_mount.main(["--stack", "acme/e2b-sandbox/dev"]) == 0
    ((argv, env),) = calls
    assert argv[1:] == [
        "-m",
        "s3mount",
        "mount",
        "--env-file",
        str(Path.cwd() / "build/dev/e2b-s3.env"),
    ]
    assert {name: env[name] for name in SETTINGS} == SETTINGS


@pytest.mark.parametrize("action", ["--check", "--unmount"])
def test_check_and_unmount_need_neither_the_key_nor_pulumi(calls: list[Call], action: str) -> None:
    bundle_wrote(key=False)
    assert host_mount.main(["--stack", "dev", action]) == 0
    ((argv, env),) = calls
    assert argv[1:] == ["-m", "s3mount", action.removeprefix("--")]
    assert env["S3_MOUNT_DIR"] == "/opt/sentient"


def test_the_unit_is_read_beside_a_given_env_file(calls: list[Call]) -> None:
    bundle_wrote("srv/backend")
    assert host_mount.main(["--stack", "dev", "--env-file", "srv/backend/e2b-s3.env"]) == 0
    ((argv, env),) = calls
    assert argv[-1] == str(Path.cwd() / "srv/backend/e2b-s3.env")
    assert env["S3_ENDPOINT_URL"] == SETTINGS["S3_ENDPOINT_URL"]


def test_saved_outputs_can_give_the_settings_instead(calls: list[Call]) -> None:
    Path("outputs.json").write_text(json.dumps(SHARED_OUTPUTS))
    assert host_mount.main(["--stack", "dev", "--input", "outputs.json", "--check"]) == 0
    ((_, env),) = calls
    assert env["S3_BUCKET_NAME"] == SHARED_OUTPUTS["bucketName"]


def test_without_the_unit_it_names_the_command_that_writes_it(
    calls: list[Call], capsys: pytest.CaptureFixture[str]
) -> None:
    assert host_mount.main(["--stack", "dev", "--unmount"]) == 1
    line = one_error_line(capsys)
    assert "no unit at build/dev/e2b-s3-mount.service" in line
    assert "`python3 -m backend_host.bundle --stack dev`" in line and "--input" in line
    assert calls == []


def test_mounting_without_the_key_names_the_command_that_writes_it(
    calls: list[Call], capsys: pytest.CaptureFixture[str]
) -> None:
    bundle_wrote(key=False)
    assert host_mount.main(["--stack", "dev"]) == 1
    line = one_error_line(capsys)
    assert "no key pair at build/dev/e2b-s3.env" in line
    assert "`python3 -m backend_host.bundle --stack dev`" in line
    assert calls == []


@pytest.mark.parametrize(
    ("unit", "problem"),
    [
        ("Environment=S3_MOUNT_DIR=/opt/x\n", "line 1 is not an Environment= line"),
        ('[Service]\nEnvironment="S3_BUCKET_NAME=b"\n', "sets no S3_MOUNT_DIR"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_a_unit_it_cannot_use_is_one_line_naming_the_fix(
    calls: list[Call], capsys: pytest.CaptureFixture[str], unit: str | bytes, problem: str
) -> None:
    Path("build/dev").mkdir(parents=True)
    path = Path("build/dev/e2b-s3-mount.service")
    if isinstance(unit, bytes):
        path.write_bytes(unit)
    else:
        path.write_text(unit)
    assert host_mount.main(["--stack", "dev", "--check"]) == 1
    line = one_error_line(capsys)
    assert problem in line and "python3 -m backend_host.bundle --stack dev" in line
    assert calls == []
