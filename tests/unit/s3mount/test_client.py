"""s3fs's command line and reasons: every flag the contract needs, none that breaks it, the
freshness bound split across the caches, the secret never in argv (s3mount/client.py)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from s3mount.client import (
    client_environment,
    error_lines,
    explain,
    freshness_options,
    s3fs_command,
    s3fs_options,
)
from s3mount.settings import MountSettings, load_mount_settings
from tests.support.sample_outputs import MOUNT_SETTINGS, SECRET

REQUIRED = MOUNT_SETTINGS
DEBIAN_12 = (1, 90)
DEBIAN_13 = (1, 95)


def settings(**overrides: str) -> MountSettings:
    return load_mount_settings({**REQUIRED, **overrides})


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
    smuggling = replace(loaded, endpoint="http://h/,allow_root,nonempty\\")
    options = libfuse_split(s3fs_options(smuggling, DEBIAN_12))
    assert "allow_root" not in options and "nonempty" not in options
    assert "url=http://h/,allow_root,nonempty\\" in options


def test_the_secret_is_never_on_the_command_line() -> None:
    loaded = settings(S3_ENDPOINT_URL="http://minio:9000")
    command = " ".join(s3fs_command(loaded, Path("/run/x.log"), DEBIAN_12))
    assert SECRET not in command
    assert client_environment(loaded)["AWSSECRETACCESSKEY"] == SECRET


def test_s3fs_flags_keep_the_contract() -> None:
    options = libfuse_split(s3fs_options(settings(S3_ENDPOINT_URL="http://minio:9000"), DEBIAN_12))
    assert "allow_other" in options
    assert "sigv4" in options
    assert {"url=http://minio:9000", "use_path_request_style"} <= set(options)
    # Nothing that would make close() return before the upload or serve a stale copy.
    assert not {"use_cache", "streamupload"} & {o.split("=")[0] for o in options}


def test_aws_needs_no_url() -> None:
    options = libfuse_split(s3fs_options(settings(), DEBIAN_12))
    assert not [option for option in options if option.startswith("url=")]
    assert "endpoint=us-east-1" in options


BOUNDS = [0, 0.5, 1, 2, 3, 10, 30, 3600]


def timeouts(seconds: float, version: tuple[int, int] | None) -> dict[str, float]:
    options = (o.split("=") for o in freshness_options(seconds, version) if "=" in o)
    return {name: float(value) for name, value in options}


@pytest.mark.parametrize("version", [DEBIAN_12, DEBIAN_13, None])
@pytest.mark.parametrize("seconds", BOUNDS)
def test_the_caches_together_stay_within_the_freshness_bound(
    seconds: float, version: tuple[int, int] | None
) -> None:
    options = timeouts(seconds, version)
    kernel = max(options[f"{cache}_timeout"] for cache in ("attr", "entry", "negative"))
    assert kernel + options.get("stat_cache_expire", 0) <= seconds
    if seconds < 2:
        assert options.get("max_stat_cache_size") == 0


@pytest.mark.parametrize("seconds", [s for s in BOUNDS if s >= 2])
def test_the_kernel_keeps_a_missing_name_as_long_as_s3fs_does(seconds: float) -> None:
    # s3fs 1.90 and 1.95 renew a missing name's entry whenever they are asked for it: the
    # kernel must not ask again before that entry expired, or a polled name stays missing.
    options = timeouts(seconds, DEBIAN_13)
    assert options["negative_timeout"] == options["stat_cache_expire"]


def test_the_default_bound_of_two_seconds() -> None:
    assert freshness_options(2, DEBIAN_13) == [
        "attr_timeout=0.5",
        "entry_timeout=0.5",
        "negative_timeout=1",
        "stat_cache_expire=1",
    ]


def test_s3fs_caches_missing_names_in_every_version() -> None:
    # On by default from 1.92, so only 1.90 needs the flag; an unknown version gets none (a
    # new one caches by default, an old one would then ask S3 each time: slower, still fresh).
    assert "enable_noobj_cache" in freshness_options(2, DEBIAN_12)
    for version in (DEBIAN_13, None):
        assert not {"enable_noobj_cache", "disable_noobj_cache"} & set(
            freshness_options(2, version)
        )
    # Without a stat cache (a bound under 2 s) there is nothing to turn on.
    assert "enable_noobj_cache" not in freshness_options(1, DEBIAN_12)


# --- reasons ---------------------------------------------------------------------------------

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


def test_a_session_reaches_s3fs_in_its_environment_with_its_prefix_on_the_command_line() -> None:
    loaded = settings(AWS_SESSION_TOKEN="FwoGZXIvYXdzEXAMPLETOKEN", S3_KEY_PREFIX="sandboxes/abc/")
    command = s3fs_command(loaded, Path("/run/x.log"), DEBIAN_13)
    assert command[1] == f"{REQUIRED['S3_BUCKET_NAME']}:/sandboxes/abc"
    assert "FwoGZXIvYXdzEXAMPLETOKEN" not in " ".join(command)
    assert client_environment(loaded)["AWSSESSIONTOKEN"] == "FwoGZXIvYXdzEXAMPLETOKEN"
    assert "AWSSESSIONTOKEN" not in client_environment(settings())


def test_expired_credentials_are_named_with_their_time() -> None:
    line = (
        "[ERR] <Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message>"
    )
    reason = explain([line], "b", "http://e", "an operation failed", "2026-12-02T18:00:00Z")
    assert reason == "the credentials expired (at 2026-12-02T18:00:00Z): attach the sandbox again"


def test_a_read_only_session_is_mounted_read_only() -> None:
    assert "ro" in libfuse_split(s3fs_options(settings(S3_MOUNT_READ_ONLY="true"), DEBIAN_13))
    assert "ro" not in libfuse_split(s3fs_options(settings(), DEBIAN_13))
