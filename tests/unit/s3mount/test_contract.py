"""The contract's file format and the rules of the values it carries (s3mount/contract.py)."""

from __future__ import annotations

import pytest

from s3mount.contract import (
    ContractError,
    endpoint_url_problem,
    mount_dir_problem,
    parse_env_file,
    render_env,
)

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY/EXAMPLE=="


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
    with pytest.raises(ContractError, match=problem) as raised:
        parse_env_file(f"OK=1\n{line}\n", "credentials.env")
    assert SECRET not in str(raised.value)
    assert "credentials.env" in str(raised.value)


@pytest.mark.parametrize(
    "value", ["plain", 'quote" and \\ back', "$HOME ${PATH} $$", "x #not a comment", " pad "]
)
def test_what_render_env_writes_parse_env_file_reads_back_exactly(value: str) -> None:
    text = render_env({"AWS_SECRET_ACCESS_KEY": value, "S3_BUCKET_NAME": "b"})
    assert parse_env_file(text, "test") == {"AWS_SECRET_ACCESS_KEY": value, "S3_BUCKET_NAME": "b"}


def test_a_control_character_is_refused_by_name_never_by_value() -> None:
    with pytest.raises(ContractError, match="contains a control character") as raised:
        render_env({"AWS_SECRET_ACCESS_KEY": "se\ncret"})
    assert "se\ncret" not in str(raised.value)


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
