"""attach and detach against a stand-in sandbox shaped like e2b's (files.write, commands.run, as
e2b's SDK 2.x takes them) and a stand-in STS: what goes into the sandbox, as whom, in which
order, and what the backend is told (sandbox_storage/attach.py). The real thing, with podman
containers as sandboxes, a real mount and moto's STS, is tests/integration/test_per_sandbox.py."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

import pytest

from program.policies import packed, session_policy
from s3mount import contract
from s3mount.contract import parse_env_file
from sandbox_storage.attach import (
    CREDENTIALS_DIR,
    CREDENTIALS_FILE,
    MAX_SECONDS,
    MIN_SECONDS,
    AttachError,
    StorageConfig,
    attach,
    detach,
    federated_name,
    lifetime_seconds,
)
from tests.support.fake_sandbox import (
    SESSION_SECRET,
    CommandExitError,
    FakeSandbox,
    FakeSts,
)

CONFIG = StorageConfig(bucket="b-dev", region="us-east-1", storage="per-sandbox")


def test_attach_writes_the_session_as_root_in_roots_directory_then_mounts() -> None:
    sandbox, sts = FakeSandbox(), FakeSts()
    attached = attach(sandbox, config=CONFIG, sts=sts, valid_for=7200)
    prefix = f"sandboxes/{sandbox.sandbox_id}/"
    assert [c[0] for c in sandbox.calls] == ["run", "write", "run"]
    assert sandbox.calls[0] == (
        "run",
        f"install -d -m 0700 -o root -g root {CREDENTIALS_DIR}",
        "root",
    )
    assert sandbox.calls[1] == ("write", CREDENTIALS_FILE, "root")
    mount = f"{contract.START_SCRIPT} --attach {CREDENTIALS_FILE}"
    assert sandbox.calls[2] == ("run", f"chmod 0600 {CREDENTIALS_FILE} && {mount}", "root")
    text, _ = sandbox.written[CREDENTIALS_FILE]
    assert parse_env_file(text, "session") == {
        "AWS_ACCESS_KEY_ID": "ASIAFAKE0000000001",
        "AWS_SECRET_ACCESS_KEY": SESSION_SECRET,
        "AWS_SESSION_TOKEN": "token-0123",
        "S3_KEY_PREFIX": prefix,
        "S3_CREDENTIALS_EXPIRE_AT": "2026-12-02T18:00:00Z",
        "S3_MOUNT_READ_ONLY": "false",
    }
    assert attached.prefix == prefix and attached.status == sandbox.status
    assert attached.expires_at == "2026-12-02T18:00:00Z"
    assert SESSION_SECRET not in repr(attached)


def test_the_session_is_asked_for_the_sandboxs_prefix_only() -> None:
    sandbox, sts = FakeSandbox(), FakeSts()
    attach(sandbox, config=CONFIG, sts=sts, read_only=True, read_prefixes=["inputs/"])
    # A read-only session is mounted read-only (its probe cannot write).
    assert 'S3_MOUNT_READ_ONLY="true"' in sandbox.written[CREDENTIALS_FILE][0]
    (asked,) = sts.asked
    prefix = f"sandboxes/{sandbox.sandbox_id}/"
    expected = session_policy("b-dev", prefix, read_only=True, read_prefixes=["inputs/"],
                              region="us-east-1")  # fmt: skip
    assert asked["Policy"] == packed(expected)
    assert asked["Name"] == f"sbx-{sandbox.sandbox_id}"


def test_a_failed_mount_raises_with_the_status_files_reason_and_no_secret() -> None:
    sandbox = FakeSandbox(status={"ok": False, "error": "bucket b-dev does not exist"})
    with pytest.raises(AttachError, match="not attached: bucket b-dev does not exist") as raised:
        attach(sandbox, config=CONFIG, sts=FakeSts())
    assert SESSION_SECRET not in str(raised.value)


def test_a_non_zero_exit_as_e2b_raises_it_is_read_like_a_result() -> None:
    failure = CommandExitError(1, json.dumps({"ok": False, "error": "FUSE is unavailable"}), "")
    with pytest.raises(AttachError, match="FUSE is unavailable"):
        attach(FakeSandbox(fail_with=failure), config=CONFIG, sts=FakeSts())


def test_shared_storage_has_nothing_to_attach_and_touches_nothing() -> None:
    sandbox = FakeSandbox()
    with pytest.raises(AttachError, match="share the bucket"):
        attach(sandbox, config=StorageConfig(bucket="b", region="us-east-1"), sts=FakeSts())
    assert sandbox.calls == []


def test_the_config_comes_from_the_backends_environment_or_says_what_is_missing() -> None:
    environ = {
        "S3_BUCKET_NAME": "b", "AWS_REGION": "eu-west-1", "S3_SANDBOX_STORAGE": "per-sandbox",
        "S3_SANDBOX_PREFIX_ROOT": "agents/", "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:5050",
    }  # fmt: skip
    config = StorageConfig.from_environ(environ)
    assert (config.bucket, config.region, config.prefix_root) == ("b", "eu-west-1", "agents/")
    assert config.sts_endpoint == "http://127.0.0.1:5050"
    with pytest.raises(AttachError, match="S3_BUCKET_NAME and AWS_REGION not set"):
        StorageConfig.from_environ({})


def test_a_sandbox_id_that_makes_no_key_prefix_is_refused() -> None:
    with pytest.raises(AttachError, match="makes no key prefix"):
        attach(FakeSandbox(sandbox_id="../other"), config=CONFIG, sts=FakeSts())


@dataclass
class Info:
    end_at: datetime.datetime


@dataclass
class LivingSandbox(FakeSandbox):
    ends_in: float = 7200

    def get_info(self) -> Info:
        now = datetime.datetime.now(datetime.UTC)
        return Info(now + datetime.timedelta(seconds=self.ends_in))


def test_the_credentials_last_the_sandboxs_life_within_what_sts_allows() -> None:
    assert 7200 + 290 <= lifetime_seconds(LivingSandbox(ends_in=7200), None) <= 7200 + 300
    assert lifetime_seconds(LivingSandbox(ends_in=10), None) == MIN_SECONDS
    assert lifetime_seconds(LivingSandbox(ends_in=10**7), None) == MAX_SECONDS
    assert lifetime_seconds(FakeSandbox(), 5) == MIN_SECONDS
    assert lifetime_seconds(FakeSandbox(), None) == 3600


def test_federated_names_fit_sts_and_stay_apart() -> None:
    short = federated_name("i3hbjn5u5jmfc3hy9x6e6")
    assert short == "sbx-i3hbjn5u5jmfc3hy9x6e6"
    first, second = federated_name("x" * 40 + "1"), federated_name("x" * 40 + "2")
    assert len(first) <= 32 and first != second and first.startswith("sbx-")
    assert federated_name("a b/c") == "sbx-a-b-c"


def test_detach_unmounts_through_the_start_command_as_root() -> None:
    sandbox = FakeSandbox(status={"ok": False, "error": "stopped on request"})
    assert detach(sandbox)["error"] == "stopped on request"
    assert sandbox.calls == [
        ("run", f"{contract.START_SCRIPT} --detach {CREDENTIALS_FILE}", "root")
    ]
