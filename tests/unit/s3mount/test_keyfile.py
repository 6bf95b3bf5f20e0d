"""The key file a backend host makes from Secrets Manager's value (s3mount/keyfile.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import mount_program
from s3mount.contract import parse_env_file, render_env
from s3mount.keyfile import write_key_file
from s3mount.settings import MountSettingsError

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY/EXAMPLE=="


def test_the_key_file_is_the_secrets_key_pair_as_the_contract_writes_it(tmp_path: Path) -> None:
    pair = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": 'a"b$c\\d'}
    write_key_file(json.dumps(pair), tmp_path / "e2b-s3.env")
    text = (tmp_path / "e2b-s3.env").read_text()
    assert parse_env_file(text, "key file") == pair
    assert text.split("\n", 1)[1] == render_env(pair)  # the same bytes as the bundle's
    assert (tmp_path / "e2b-s3.env").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "secret",
    [
        "not json",
        json.dumps({"AWS_ACCESS_KEY_ID": "AKIAX"}),
        json.dumps({"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "s", "PATH": "/x"}),
        json.dumps({"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": 5}),
        json.dumps({"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "two\nlines"}),
    ],
)
def test_anything_but_the_key_pair_writes_nothing(tmp_path: Path, secret: str) -> None:
    with pytest.raises(MountSettingsError):
        write_key_file(secret, tmp_path / "e2b-s3.env")
    assert list(tmp_path.iterdir()) == []


def test_key_file_from_the_command_line(tmp_path: Path) -> None:
    pair = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET}
    written = subprocess.run(
        [sys.executable, str(mount_program()), "key-file", "--output", str(tmp_path / "k.env")],
        input=json.dumps(pair), capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert parse_env_file((tmp_path / "k.env").read_text(), "k") == pair
    refused = subprocess.run(
        [sys.executable, str(mount_program()), "key-file", "--output", str(tmp_path / "x.env")],
        input="[]", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "must hold exactly" in refused.stderr
    assert SECRET not in written.stderr + refused.stderr
