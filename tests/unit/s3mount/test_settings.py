"""The mount program's settings: gathered from files and the environment, every problem at once,
the secret never shown (s3mount/settings.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s3mount.settings import MountSettings, MountSettingsError, gather, load_mount_settings
from tests.support.sample_outputs import MOUNT_SETTINGS, SECRET

REQUIRED = MOUNT_SETTINGS


def settings(**overrides: str) -> MountSettings:
    return load_mount_settings({**REQUIRED, **overrides})


def test_the_environment_wins_over_files_and_unknown_names_are_ignored(tmp_path: Path) -> None:
    first, second = tmp_path / "settings.env", tmp_path / "credentials.env"
    first.write_text("S3_BUCKET_NAME=from-file\nAWS_REGION=eu-west-1\nPATH=/evil\n")
    second.write_text('AWS_REGION="eu-central-1"\n')
    raw = gather([first, second], {"S3_BUCKET_NAME": "from-env", "AWS_REGION": "", "HOME": "/x"})
    assert raw == {"S3_BUCKET_NAME": "from-env", "AWS_REGION": "eu-central-1"}


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MountSettingsError, match=r"cannot read .*missing.env"):
        gather([tmp_path / "missing.env"], {})


# --- validation -------------------------------------------------------------------------------


def test_every_missing_setting_is_named_at_once_and_the_secret_never_shown() -> None:
    with pytest.raises(MountSettingsError) as raised:
        load_mount_settings({"AWS_SECRET_ACCESS_KEY": "two\nlines"})
    message = str(raised.value)
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "S3_BUCKET_NAME",
        "AWS_REGION",
        "S3_MOUNT_DIR",
        "S3_MOUNT_FRESHNESS_SECONDS",
    ):
        assert name in message
    assert "two" not in message


def test_the_programs_own_defaults_and_the_stacks_values() -> None:
    loaded = load_mount_settings(REQUIRED)
    assert (loaded.region, loaded.mount_dir, loaded.endpoint) == ("us-east-1", "/opt/sentient", "")
    assert (loaded.freshness, loaded.uid, loaded.gid, loaded.umask) == (2.0, 1000, 1000, "0022")
    assert (loaded.timeout, loaded.run_dir) == (30, Path("/run/e2b-s3-mount"))
    assert loaded.name == "opt-sentient"
    assert SECRET not in json.dumps(loaded.public())


@pytest.mark.parametrize(
    "url", ["http://host/,nonempty,allow_root", "http://:secret@host", "ftp://host"]
)
def test_an_endpoint_the_contract_refuses_is_refused_by_name(url: str) -> None:
    with pytest.raises(MountSettingsError, match="S3_ENDPOINT_URL"):
        settings(S3_ENDPOINT_URL=url)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("S3_MOUNT_FRESHNESS_SECONDS", "-1"),
        ("S3_MOUNT_FRESHNESS_SECONDS", "nan"),
        ("S3_MOUNT_FRESHNESS_SECONDS", "inf"),
        ("S3_MOUNT_TIMEOUT", "31"),
        ("S3_MOUNT_TIMEOUT", "1.5"),
        ("S3_MOUNT_UID", "-1"),
        ("S3_MOUNT_UMASK", "99"),
        ("AWS_REGION", "us-east-\u0661"),  # an Arabic-Indic digit one
        ("S3_BUCKET_NAME", "Bad_Bucket"),
        ("AWS_ACCESS_KEY_ID", "AKIA,allow_root"),
    ],
)
def test_out_of_range_settings_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(MountSettingsError, match=name):
        settings(**{name: value})


# --- an attached sandbox's session ------------------------------------------------------------

SESSION = {
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEXAMPLETOKEN",
    "S3_KEY_PREFIX": "sandboxes/abc/",
    "S3_CREDENTIALS_EXPIRE_AT": "2026-12-02T18:00:00Z",
}


def test_a_session_mounts_its_prefix_and_shows_when_it_ends_never_its_token() -> None:
    loaded = settings(**SESSION)
    assert loaded.remote == f"{REQUIRED['S3_BUCKET_NAME']}:/sandboxes/abc"
    assert loaded.session_token == SESSION["AWS_SESSION_TOKEN"]
    public = loaded.public()
    assert public["keyPrefix"] == "sandboxes/abc/"
    assert public["credentialsExpireAt"] == "2026-12-02T18:00:00Z"
    assert SESSION["AWS_SESSION_TOKEN"] not in json.dumps(public)
    assert settings().remote == REQUIRED["S3_BUCKET_NAME"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("S3_KEY_PREFIX", "/sandboxes/abc/"),
        ("S3_KEY_PREFIX", "sandboxes/../x/"),
        ("S3_KEY_PREFIX", "sandboxes/abc"),
        ("S3_CREDENTIALS_EXPIRE_AT", "tomorrow"),
        ("S3_CREDENTIALS_EXPIRE_AT", "2026-12-02T18:00:00"),  # no zone: ambiguous
    ],
)
def test_a_bad_session_setting_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(MountSettingsError, match=name):
        settings(**{**SESSION, name: value})


def test_a_token_that_is_not_one_line_is_refused_without_showing_it() -> None:
    with pytest.raises(MountSettingsError, match="AWS_SESSION_TOKEN") as raised:
        settings(AWS_SESSION_TOKEN="two\nlines")
    assert "two" not in str(raised.value)
