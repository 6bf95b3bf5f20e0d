"""An attached sandbox's mount through real FUSE, on s3fs 1.90 and 1.95: a session (temporary
credentials from STS, with their token) mounts one prefix only and makes its marker; attaching
again hands the mount over to new credentials without losing a file, even one open across it;
expired credentials fail loudly and the status file says so."""

from __future__ import annotations

import datetime
import errno
import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bucket_mounts import Host, ProgramMount, program_mount, wait_for
from harness.moto_server import MotoServer
from harness.wan_proxy import WanProxy
from program.policies import packed, session_policy

pytestmark = pytest.mark.fuse
PREFIX = "sandboxes/sbx-a/"


def moto_session(server: MotoServer, bucket: str) -> dict[str, str]:
    """A session from moto's STS, as attach writes it for the sandbox's mount program."""
    issued = server.client("sts").get_federation_token(
        Name="sbx-a", Policy=packed(session_policy(bucket, PREFIX)), DurationSeconds=3600
    )["Credentials"]
    expires = issued["Expiration"].astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "AWS_ACCESS_KEY_ID": issued["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
        "AWS_SESSION_TOKEN": issued["SessionToken"],
        "S3_KEY_PREFIX": PREFIX,
        "S3_CREDENTIALS_EXPIRE_AT": expires,
    }


def another_session(expires_in: float = 3600) -> dict[str, str]:
    """Credentials moto (not enforcing IAM) accepts, unique to the call."""
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=expires_in)
    return {
        "AWS_ACCESS_KEY_ID": f"ASIA{secrets.token_hex(8).upper()}",
        "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20),
        "AWS_SESSION_TOKEN": f"token{secrets.token_hex(40)}",
        "S3_KEY_PREFIX": PREFIX,
        "S3_CREDENTIALS_EXPIRE_AT": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def session_mount(
    made: list[ProgramMount], host: Host, bucket: str, endpoint: str, session: dict[str, str]
) -> ProgramMount:
    mount = program_mount(
        bucket, endpoint, session["AWS_ACCESS_KEY_ID"], session["AWS_SECRET_ACCESS_KEY"], host
    )
    mount.env.update(session)
    made.append(mount)
    return mount


def keys(server: MotoServer, bucket: str) -> dict[str, bytes]:
    s3 = server.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_a_session_mounts_only_its_prefix_and_makes_its_marker(
    moto_server: MotoServer, bucket: str, mount_host: Host, made: list[ProgramMount]
) -> None:
    s3 = moto_server.client("s3")
    s3.put_object(Bucket=bucket, Key="sandboxes/sbx-b/theirs.txt", Body=b"not yours")
    s3.put_object(Bucket=bucket, Key="backend.txt", Body=b"the backend's")
    session = moto_session(moto_server, bucket)
    mount = session_mount(made, mount_host, bucket, moto_server.endpoint, session).mount()
    assert sorted(p.name for p in mount.dir.iterdir()) == []
    (mount.dir / "out.txt").write_bytes(b"mine")
    found = keys(moto_server, bucket)
    assert found[f"{PREFIX}out.txt"] == b"mine"
    assert f"{PREFIX}" in found  # the marker the program made with the session's credentials
    assert sorted(p.name for p in mount.dir.iterdir()) == ["out.txt"]
    status = mount.status()
    assert (status["ok"], status["keyPrefix"]) == (True, PREFIX)
    assert status["credentialsExpireAt"] == session["S3_CREDENTIALS_EXPIRE_AT"]
    text = mount.status_path.read_text() + "".join(r.stdout + r.stderr for r in mount.results)
    assert session["AWS_SESSION_TOKEN"] not in text
    assert session["AWS_SECRET_ACCESS_KEY"] not in text


WRITER = """
import sys
with open(sys.argv[1], "wb") as handle:
    handle.write(b"before ")
    handle.flush()
    print("open", flush=True)
    sys.stdin.readline()
    handle.write(b"after")
print("closed", flush=True)
"""


def test_attaching_again_hands_over_and_loses_no_file_even_one_held_open(
    moto_server: MotoServer, bucket: str, mount_host: Host, made: list[ProgramMount]
) -> None:
    first = session_mount(made, mount_host, bucket, moto_server.endpoint, another_session())
    first.mount()
    (first.dir / "early.txt").write_bytes(b"closed before")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(first.dir / "held.txt")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert writer.stdout is not None and writer.stdin is not None
    assert writer.stdout.readline().strip() == "open"
    old_client = first.status()["pid"]
    second = another_session()
    first.env.update(second)
    again = first.run("mount")
    assert again.returncode == 0, again.stderr
    assert "handing" in again.stderr and "over to new credentials" in again.stderr
    (first.dir / "late.txt").write_bytes(b"after the hand-over")
    writer.stdin.write("go\n")
    writer.stdin.flush()
    assert writer.stdout.readline().strip() == "closed"
    assert writer.wait(timeout=60) == 0
    found = keys(moto_server, bucket)
    assert found[f"{PREFIX}early.txt"] == b"closed before"
    assert found[f"{PREFIX}held.txt"] == b"before after"
    assert found[f"{PREFIX}late.txt"] == b"after the hand-over"
    status = first.status()
    assert status["accessKeyId"] == second["AWS_ACCESS_KEY_ID"] and status["pid"] != old_client
    # The retired client leaves once its last file is closed.
    assert wait_for(lambda: not Path(f"/proc/{old_client}").exists(), timeout=30) is not None


def test_expired_credentials_fail_the_write_loudly_and_the_status_says_so(
    moto_server: MotoServer, bucket: str, mount_host: Host, made: list[ProgramMount]
) -> None:
    with WanProxy(moto_server.endpoint, latency_ms=0, mib_per_s=0) as proxy:
        mount = session_mount(made, mount_host, bucket, proxy.endpoint, another_session())
        mount.mount()
        (mount.dir / "fine.txt").write_bytes(b"in time")
        proxy.set_mode("expire")
        with pytest.raises(OSError) as raised:
            (mount.dir / "too-late.txt").write_bytes(b"lost if silent")
        assert raised.value.errno in (errno.EIO, errno.EPERM, errno.EACCES)
        said = wait_for(
            lambda: "credentials expired" in str(mount.status().get("lastError")), timeout=15
        )
        assert said is not None, mount.status()
    found = keys(moto_server, bucket)
    assert f"{PREFIX}fine.txt" in found and f"{PREFIX}too-late.txt" not in found


def test_the_status_says_when_the_credentials_expired_before_a_write_fails(
    moto_server: MotoServer, bucket: str, mount_host: Host, made: list[ProgramMount]
) -> None:
    mount = session_mount(
        made, mount_host, bucket, moto_server.endpoint, another_session(expires_in=3)
    ).mount()
    expires = mount.status()["credentialsExpireAt"]
    said = wait_for(lambda: mount.status().get("expired") is True, timeout=20)
    assert said is not None, mount.status()
    assert mount.status()["lastError"] == (
        f"the credentials expired (at {expires}): attach the sandbox again"
    )
    assert json.loads(mount.run("status").stdout)["expired"] is True
    # The mount itself stays: a re-attach hands it over.
    assert mount.status()["ok"] is True


def test_a_read_only_session_mounts_read_only_and_needs_no_write_to_check(
    moto_server: MotoServer, bucket: str, mount_host: Host, made: list[ProgramMount]
) -> None:
    s3 = moto_server.client("s3")
    s3.put_object(Bucket=bucket, Key=PREFIX, Body=b"")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}input.csv", Body=b"a,b\n")
    with WanProxy(moto_server.endpoint, latency_ms=0, mib_per_s=0) as proxy:
        session = {**another_session(), "S3_MOUNT_READ_ONLY": "true"}
        mount = session_mount(made, mount_host, bucket, proxy.endpoint, session)
        proxy.reset()
        mount.mount()
        _, kinds = proxy.counts()
        # The check wrote nothing: a read-only session could not have (S3 would refuse it).
        assert not [k for k in kinds if k.startswith(("PUT", "DELETE", "POST"))], kinds
        assert (mount.dir / "input.csv").read_bytes() == b"a,b\n"
        with pytest.raises(OSError) as raised:
            (mount.dir / "new.txt").write_bytes(b"no")
        assert raised.value.errno == errno.EROFS
        assert mount.status()["readOnly"] is True
        assert mount.run("check").returncode == 0
