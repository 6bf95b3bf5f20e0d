"""The mount program's command line as a user meets it: help that lists what each command reads,
one line for every bad input (never a traceback), nothing written on failure (s3mount/cli.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import mount_program
from tests.support.sample_outputs import MOUNT_SETTINGS, SECRET

PAIR = {key: MOUNT_SETTINGS[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


def s3mount(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The shipped zipapp, run as a user runs it, with only the given environment."""
    return subprocess.run(
        [sys.executable, str(mount_program()), *args],
        input=stdin, capture_output=True, text=True, timeout=30, check=False,
        env={"PATH": os.environ["PATH"], **(env or {})},
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_help_lists_the_commands_and_hides_the_internal_one() -> None:
    result = s3mount("--help")
    assert result.returncode == 0
    for command in ("mount", "run", "check", "unmount", "settings", "key-file"):
        assert command in result.stdout
    assert "watch" not in result.stdout


@pytest.mark.parametrize("command", ["mount", "run", "check", "unmount", "settings"])
def test_each_commands_help_lists_the_settings_it_reads_and_their_defaults(command: str) -> None:
    text = s3mount(command, "--help").stdout
    for name in ("S3_BUCKET_NAME", "S3_MOUNT_DIR", "AWS_SECRET_ACCESS_KEY", "S3_MOUNT_RUN_DIR"):
        assert name in text, name
    assert "default /run/e2b-s3-mount" in text and "--env-file" in text


def test_settings_prints_the_non_secret_settings_without_the_secret() -> None:
    without_key = {k: v for k, v in MOUNT_SETTINGS.items() if k not in PAIR}
    result = s3mount("settings", env=without_key)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mountDir"] == "/opt/sentient"
    with_key = s3mount("settings", env=MOUNT_SETTINGS)
    assert json.loads(with_key.stdout)["accessKeyId"] == PAIR["AWS_ACCESS_KEY_ID"]
    assert SECRET not in with_key.stdout + with_key.stderr


def test_bare_settings_says_what_is_missing_and_how_to_supply_it() -> None:
    line = one_line_error(s3mount("settings"))
    assert "S3_BUCKET_NAME" in line and "S3_MOUNT_DIR" in line
    assert "--env-file" in line and "s3mount settings --help" in line


def test_check_names_the_directory_and_needs_no_key(tmp_path: Path) -> None:
    env = {"S3_MOUNT_DIR": "/opt/not-mounted-here", "S3_MOUNT_RUN_DIR": str(tmp_path)}
    result = s3mount("check", env=env)
    assert result.returncode == 1
    assert result.stdout.strip() == "/opt/not-mounted-here: not mounted"


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ("/nonexistent/dir/kf.env", "cannot write /nonexistent/dir/kf.env: No such file"),
        ("DIR", "is a directory: pass a file name with --output"),
    ],
)
def test_key_file_to_a_place_it_cannot_write_is_one_line(
    tmp_path: Path, output: str, fragment: str
) -> None:
    target = str(tmp_path) if output == "DIR" else output
    line = one_line_error(s3mount("key-file", "--output", target, stdin=json.dumps(PAIR)))
    assert fragment in line
    assert SECRET not in line
    assert list(tmp_path.iterdir()) == []


def test_key_file_from_stdin_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(mount_program()), "key-file", "--output", str(tmp_path / "k.env")],
        input=b"\xff\xfe", capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    # Python may decode it with surrogate escapes (a C locale): then it is no JSON either.
    assert result.returncode == 2 and b"no key file written: stdin is not" in result.stderr
    assert b"Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_watch_of_a_file_that_is_no_status_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    line = one_line_error(s3mount("watch", "--status", str(missing)))
    assert "is not a mount's status file" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--bogus"], ["mount", "--bogus"], ["frobnicate"], []])
def test_unknown_commands_and_flags_are_usage_errors(args: list[str]) -> None:
    result = s3mount(*args)
    assert result.returncode == 2
    assert "usage: s3mount" in result.stderr and "Traceback" not in result.stderr
