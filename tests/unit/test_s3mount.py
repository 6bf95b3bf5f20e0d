"""The mount program's pure parts: settings files, validation, s3fs's flags, status, reasons."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import s3mount
from components.contract import render_env
from s3mount import (
    Settings,
    SettingsError,
    StatusFile,
    endpoint_url_problem,
    error_lines,
    explain,
    freshness_options,
    gather,
    load_settings,
    mount_dir_problem,
    parse_env_file,
    s3fs_command,
    s3fs_options,
)
from tests.support.paths import MOUNT_PROGRAM

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY/EXAMPLE=="
REQUIRED = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "S3_BUCKET_NAME": "e2b-sandbox-dev-20261127093000123400000001",
}
DEBIAN_12 = (1, 90)
DEBIAN_13 = (1, 95)


def settings(**overrides: str) -> Settings:
    return load_settings({**REQUIRED, **overrides})


# --- env files --------------------------------------------------------------------------------


def test_env_file_forms_compose_and_systemd_write() -> None:
    text = (
        "# a comment\n"
        "\n"
        'AWS_SECRET_ACCESS_KEY="a\\"b\\\\c\\$d #not a comment"\n'
        "export AWS_REGION=eu-west-1\n"
        "S3_MOUNT_DIR=/opt/shared   # trailing comment\n"
        "S3_BUCKET_NAME='literal $x'\n"
    )
    assert parse_env_file(text, "f.env") == {
        "AWS_SECRET_ACCESS_KEY": 'a"b\\c$d #not a comment',
        "AWS_REGION": "eu-west-1",
        "S3_MOUNT_DIR": "/opt/shared",
        "S3_BUCKET_NAME": "literal $x",
    }


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (f"AWS_SECRET_ACCESS_KEY {SECRET}", r"line 2: expected KEY=value"),
        (f'AWS_SECRET_ACCESS_KEY="{SECRET}', r"line 2 \(AWS_SECRET_ACCESS_KEY\): .*never closed"),
        (f'AWS_SECRET_ACCESS_KEY="{SECRET}" tail', r"unexpected text after the closing quote"),
        (f"9KEY={SECRET}", r"line 2: expected KEY=value"),
    ],
)
def test_a_malformed_line_is_named_without_its_value(line: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=problem) as raised:
        parse_env_file(f"OK=1\n{line}\n", "credentials.env")
    assert SECRET not in str(raised.value)
    assert "credentials.env" in str(raised.value)


def test_the_environment_wins_over_files_and_unknown_names_are_ignored(tmp_path: Path) -> None:
    first, second = tmp_path / "settings.env", tmp_path / "credentials.env"
    first.write_text("S3_BUCKET_NAME=from-file\nAWS_REGION=eu-west-1\nPATH=/evil\n")
    second.write_text('AWS_REGION="eu-central-1"\n')
    raw = gather([first, second], {"S3_BUCKET_NAME": "from-env", "AWS_REGION": "", "HOME": "/x"})
    assert raw == {"S3_BUCKET_NAME": "from-env", "AWS_REGION": "eu-central-1"}


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"cannot read .*missing.env"):
        gather([tmp_path / "missing.env"], {})


# --- validation -------------------------------------------------------------------------------


def test_every_missing_setting_is_named_at_once_and_the_secret_never_shown() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"AWS_SECRET_ACCESS_KEY": "two\nlines"})
    message = str(raised.value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_BUCKET_NAME"):
        assert name in message
    assert "two" not in message


def test_defaults() -> None:
    loaded = settings()
    assert (loaded.region, loaded.mount_dir, loaded.endpoint) == ("us-east-1", "/opt/sentient", "")
    assert (loaded.freshness, loaded.uid, loaded.gid, loaded.umask) == (2.0, 1000, 1000, "0022")
    assert (loaded.timeout, loaded.run_dir) == (30, Path("/run/e2b-s3-mount"))
    assert loaded.name == "opt-sentient"
    assert SECRET not in json.dumps(loaded.public())


@pytest.mark.parametrize(
    "url",
    [
        "http://host/,nonempty,allow_root",
        "http://:secret@host",
        "http://user:secret@host:9000",
        "http://host\n:9000",
        "http://host:99999",
        "http://host:abc",
        "http://ho st:9000",
        "ftp://host",
        "http://host/path",
        "http://host?x=1",
        "http://",
        "http://host:0",
    ],
)
def test_an_endpoint_that_could_smuggle_options_or_credentials_is_refused(url: str) -> None:
    assert endpoint_url_problem(url) is not None
    with pytest.raises(SettingsError, match="S3_ENDPOINT_URL"):
        settings(S3_ENDPOINT_URL=url)


@pytest.mark.parametrize(
    "url",
    ["http://minio:9000", "https://s3.example.com", "http://127.0.0.1:5050/", "http://[::1]:9"],
)
def test_s3_compatible_endpoints_are_accepted(url: str) -> None:
    assert endpoint_url_problem(url) is None


@pytest.mark.parametrize(
    "path",
    [
        "/usr/bin",
        "/usr/local/bin",
        "/lib/x86_64-linux-gnu",
        "/root/.ssh",
        "/root/.server",
        "/root/.jupyter",
        "/home",
        "/tmp",
        "/var/lib/docker",
        "/etc",
        "/",
        "relative/dir",
        "/opt/../etc",
        "/opt/sentient/",
        "/opt/a b",
        "/opt/" + "x" * 5000,
    ],
)
def test_a_mount_dir_over_the_system_is_refused(path: str) -> None:
    assert mount_dir_problem(path) is not None


@pytest.mark.parametrize("path", ["/opt/sentient", "/mnt/shared", "/home/user/data", "/tmp/x"])
def test_a_mount_dir_of_its_own_is_accepted(path: str) -> None:
    assert mount_dir_problem(path) is None


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
    with pytest.raises(SettingsError, match=name):
        settings(**{name: value})


# --- s3fs's command line ----------------------------------------------------------------------


def libfuse_split(options: str) -> list[str]:
    """How libfuse (fuse_opt.c) splits an -o list: a backslash takes the next character as it
    is, an unescaped comma ends an option."""
    parts, current, characters = [], "", iter(options)
    for character in characters:
        if character == "\\":
            current += next(characters, "")
        elif character == ",":
            parts.append(current)
            current = ""
        else:
            current += character
    return [*parts, current]


def test_a_value_can_never_add_a_mount_option_even_unvalidated() -> None:
    # Built around validation, as if it had been bypassed.
    loaded = settings(S3_ENDPOINT_URL="http://host:9000")
    smuggling = Settings(**{**vars(loaded), "endpoint": "http://h/,allow_root,nonempty\\"})
    options = libfuse_split(s3fs_options(smuggling, DEBIAN_12))
    assert "allow_root" not in options and "nonempty" not in options
    assert "url=http://h/,allow_root,nonempty\\" in options


def test_the_secret_is_never_on_the_command_line() -> None:
    loaded = settings(S3_ENDPOINT_URL="http://minio:9000")
    command = " ".join(s3fs_command(loaded, Path("/run/x.log"), DEBIAN_12))
    assert SECRET not in command
    assert s3mount.client_environment(loaded)["AWSSECRETACCESSKEY"] == SECRET


def test_s3fs_flags_keep_the_contract() -> None:
    options = libfuse_split(s3fs_options(settings(S3_ENDPOINT_URL="http://minio:9000"), DEBIAN_12))
    assert "allow_other" in options
    assert "sigv4" in options
    assert {"url=http://minio:9000", "use_path_request_style"} <= set(options)
    # Nothing that would make close() return before the upload or hide a missing name.
    assert not {"enable_noobj_cache", "use_cache", "streamupload"} & {
        o.split("=")[0] for o in options
    }


def test_aws_needs_no_url() -> None:
    options = libfuse_split(s3fs_options(settings(), DEBIAN_12))
    assert not [option for option in options if option.startswith("url=")]
    assert "endpoint=us-east-1" in options


@pytest.mark.parametrize("seconds", [0, 0.5, 1, 2, 3, 10, 30, 3600])
def test_the_caches_together_stay_within_the_freshness_bound(seconds: float) -> None:
    options = dict(o.split("=") for o in freshness_options(seconds, DEBIAN_12) if "=" in o)
    kernel = max(float(options[f"{cache}_timeout"]) for cache in ("attr", "entry", "negative"))
    stat_cache = float(options.get("stat_cache_expire", 0))
    assert kernel + stat_cache <= seconds
    if seconds < 2:
        assert options.get("max_stat_cache_size") == "0"


def test_the_default_bound_of_two_seconds() -> None:
    assert freshness_options(2, DEBIAN_12) == [
        "attr_timeout=0.5",
        "entry_timeout=0.5",
        "negative_timeout=0.5",
        "stat_cache_expire=1",
    ]


def test_newer_s3fs_gets_its_cache_of_missing_names_turned_off() -> None:
    assert "disable_noobj_cache" not in freshness_options(2, DEBIAN_12)
    assert "disable_noobj_cache" in freshness_options(2, DEBIAN_13)
    assert "disable_noobj_cache" in freshness_options(2, None)  # unknown: fail loudly if old


# --- reasons and status -----------------------------------------------------------------------

LOG = """\
2026-11-29T03:49:05.651Z [INF] s3fs version 1.90(unknown) : s3fs -f -o allow_other,url=x b /m
2026-11-29T03:49:05.652Z [CRT] s3fs_logger.cpp:LowSetLogLevel(240): change debug level
2026-11-29T03:49:30.049Z [ERR] curl.cpp:RequestPerform(2363): HTTP response code 403, returning.
<Error><Code>InvalidAccessKeyId</Code></Error>
"""


def test_error_lines_leave_out_information_and_the_level_change() -> None:
    assert error_lines(LOG) == [
        "2026-11-29T03:49:30.049Z [ERR] curl.cpp:RequestPerform(2363): HTTP response code 403, "
        "returning.",
        "<Error><Code>InvalidAccessKeyId</Code></Error>",
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[ERR] HTTP response code 403, returning EPERM", "rejected the credentials"),
        ("[CRT] s3fs.cpp:s3fs_check_service(3884): bucket not found", "bucket b does not exist"),
        ("[ERR] curl.cpp:RequestPerform(2416): ### CURLE_COULDNT_CONNECT", "could not reach"),
        ("fuse: device not found, try 'modprobe fuse' first", "no permission to mount"),
        ("[ERR] something new", "fallback \\(\\[ERR\\] something new\\)"),
    ],
)
def test_a_reason_a_person_can_act_on(line: str, reason: str) -> None:
    assert re.search(reason, explain([line], "b", "http://e", "fallback"))


def test_the_status_replaces_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    status_path = tmp_path / "opt-sentient.json"
    status_path.symlink_to(victim)
    StatusFile(status_path).write({"ok": True})
    assert not status_path.is_symlink()
    assert json.loads(status_path.read_text())["ok"] is True
    assert list(victim.iterdir()) == []
    assert status_path.stat().st_mode & 0o777 == 0o644


# --- the key file a backend host makes from Secrets Manager -----------------------------------


def test_the_key_file_is_the_secrets_key_pair_as_the_contract_writes_it(tmp_path: Path) -> None:
    pair = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": 'a"b$c\\d'}
    s3mount.write_key_file(json.dumps(pair), tmp_path / "e2b-s3.env")
    text = (tmp_path / "e2b-s3.env").read_text()
    assert s3mount.parse_env_file(text, "key file") == pair
    assert text.split("\n", 1)[1] == render_env(pair)  # the same bytes as the outputs tool's
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
    with pytest.raises(SettingsError):
        s3mount.write_key_file(secret, tmp_path / "e2b-s3.env")
    assert list(tmp_path.iterdir()) == []


def test_key_file_from_the_command_line(tmp_path: Path) -> None:
    pair = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET}
    written = subprocess.run(
        [sys.executable, str(MOUNT_PROGRAM), "key-file", "--output", str(tmp_path / "k.env")],
        input=json.dumps(pair), capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert s3mount.parse_env_file((tmp_path / "k.env").read_text(), "k") == pair
    refused = subprocess.run(
        [sys.executable, str(MOUNT_PROGRAM), "key-file", "--output", str(tmp_path / "x.env")],
        input="[]", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "must hold exactly" in refused.stderr
    assert SECRET not in written.stderr + refused.stderr
