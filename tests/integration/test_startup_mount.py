"""docker/e2b-sandbox/start-up.sh against real FUSE mounts of a moto bucket.

Each test runs the script with a temporary HOME, mount directory and status files, checks the
bucket through the mount and with boto3, and unmounts in teardown even when the test fails.
Fault cases must exit 0 quickly, report `ok: false` with a reason, leave nothing mounted and never
print the secret. The Jupyter tests run the full start command with fake servers.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.startup_helpers import (
    SANDBOX_UID,
    SCRIPT,
    Sandbox,
    StartupResult,
    as_user,
    closed_endpoint,
    fuse_tools_missing,
    group_cpu_seconds,
    hand_to_sandbox_user,
    make_sandbox,
    processes_mentioning,
    stop_group,
)
from tests.support.moto_server import MotoServer, silent_endpoint
from tests.support.mounts import is_mounted, unmount

SEED_KEY = "seed/hello.txt"
SEED_BODY = b"seeded through the S3 API\n"
# A fault case must be over in seconds, far below the default 30 s mount phase, so that waiting
# out a timeout fails the test; the silent endpoint gets its configured mount-phase bound. The
# margins are wide on purpose: CI machines are shared and a loaded one starts rclone slowly.
FAST_FAILURE_SECONDS = 10
SILENT_PHASE_SECONDS = 5


@pytest.fixture
def fuse_available() -> None:
    """FUSE tests fail loudly rather than skip when the machine lacks what .ci installs."""
    missing = fuse_tools_missing()
    if missing:
        pytest.fail(f"missing for FUSE tests: {missing} (run bash .ci/install-test-deps.sh)")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A world-traversable temporary root (the sandbox user must reach the mount)."""
    root = Path(tempfile.mkdtemp(prefix="startup-test-"))
    root.chmod(0o755)
    box = make_sandbox(root)
    try:
        yield box
    finally:
        unmount(box.mount_dir)
        # Never delete through a mount: that would delete the bucket's objects.
        if not is_mounted(box.mount_dir):
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    """A fresh bucket with one seeded object."""
    name = f"sandbox-{uuid.uuid4().hex[:12]}"
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key=SEED_KEY, Body=SEED_BODY)
    return name


@pytest.fixture
def secret_key() -> str:
    """A recognisable secret (moto without IAM enforcement accepts any) to look for in output."""
    return f"SeCrEt{secrets.token_hex(12)}"


def credentials(server: MotoServer, bucket: str, secret: str, **extra: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": server.region,
        "S3_BUCKET_NAME": bucket,
        "S3_ENDPOINT_URL": server.endpoint,
        **extra,
    }


def object_body(server: MotoServer, bucket: str, key: str, timeout: float = 10) -> bytes | None:
    """The object's body once it reaches the bucket (write-back clients upload after close)."""
    s3 = server.client("s3")
    deadline = time.monotonic() + timeout
    while True:
        try:
            body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)
        else:
            return body


def keys_in(server: MotoServer, bucket: str) -> list[str]:
    listing: dict[str, Any] = server.client("s3").list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def assert_no_secret(sandbox: Sandbox, result: StartupResult, secret: str) -> None:
    assert secret not in result.output
    assert secret not in sandbox.written_text()
    assert processes_mentioning(secret) == []


def assert_clean_failure(
    sandbox: Sandbox, result: StartupResult, secret: str | None, reason: str, bound: float
) -> None:
    """Exit 0, ok false with the expected reason, nothing mounted or running, no secret.

    The secret must be unique to the test (a process-table scan for a common word such as
    moto's "testing" also finds unrelated processes on a shared CI machine); None when the
    case has no secret in play.
    """
    assert result.returncode == 0, result.output
    assert result.status["ok"] is False, result.status
    assert result.status["tool"] is None
    assert re.search(reason, result.status["error"] or ""), result.status["error"]
    assert result.method == "failed"
    assert result.seconds < bound, f"took {result.seconds:.1f} s: {result.output}"
    assert not is_mounted(sandbox.mount_dir)
    assert processes_mentioning(str(sandbox.mount_dir)) == []
    if secret is not None:
        assert_no_secret(sandbox, result, secret)


# --- mounts that work -------------------------------------------------------------------------


@pytest.mark.fuse
@pytest.mark.usefixtures("fuse_available")
@pytest.mark.parametrize("tool", ["rclone", "s3fs"])
def test_bucket_is_read_and_written_through_the_mount(
    sandbox: Sandbox, moto_server: MotoServer, bucket: str, secret_key: str, tool: str
) -> None:
    env = sandbox.env(**credentials(moto_server, bucket, secret_key, S3_MOUNT_TOOLS=tool))
    result = sandbox.run(env)

    assert result.returncode == 0, result.output
    assert result.status["ok"] is True, result.status
    assert result.status["tool"] == tool
    assert result.status["bucket"] == bucket
    assert result.status["mountDir"] == str(sandbox.mount_dir)
    assert result.status["error"] is None
    assert 0 < result.status["seconds"] <= result.seconds
    assert result.method == tool
    assert is_mounted(sandbox.mount_dir)

    assert (sandbox.mount_dir / SEED_KEY).read_bytes() == SEED_BODY
    (sandbox.mount_dir / "from-sandbox.txt").write_bytes(b"written through FUSE\n")
    assert object_body(moto_server, bucket, "from-sandbox.txt") == b"written through FUSE\n"
    assert not any(key.startswith(".e2b-mount-probe") for key in keys_in(moto_server, bucket))
    assert_no_secret(sandbox, result, secret_key)


@pytest.mark.fuse
@pytest.mark.usefixtures("fuse_available")
@pytest.mark.parametrize("tool", ["rclone", "s3fs"])
def test_sandbox_user_reads_writes_and_deletes(
    sandbox: Sandbox, moto_server: MotoServer, bucket: str, secret_key: str, tool: str
) -> None:
    env = sandbox.env(**credentials(moto_server, bucket, secret_key, S3_MOUNT_TOOLS=tool))
    result = sandbox.run(env)
    assert result.status["ok"] is True, result.output

    sandbox_user = as_user(SANDBOX_UID)
    script = 'cat "$1/seed/hello.txt" && echo user-data > "$1/user.txt" && cat "$1/user.txt"'
    completed = subprocess.run(
        [*sandbox_user, "sh", "-c", script, "sh", str(sandbox.mount_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == SEED_BODY.decode() + "user-data\n"
    assert object_body(moto_server, bucket, "user.txt") == b"user-data\n"

    subprocess.run(
        [*sandbox_user, "rm", str(sandbox.mount_dir / "user.txt")], check=True, timeout=30
    )
    deadline = time.monotonic() + 10
    while "user.txt" in keys_in(moto_server, bucket) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "user.txt" not in keys_in(moto_server, bucket)
    # The script's own files stay private to root.
    assert (sandbox.home / ".cache" / "e2b-s3-mount").stat().st_mode & 0o077 == 0


@pytest.mark.fuse
@pytest.mark.usefixtures("fuse_available")
def test_missing_first_client_falls_back_to_the_next(
    sandbox: Sandbox, moto_server: MotoServer, bucket: str, secret_key: str
) -> None:
    assert shutil.which("geesefs", path=sandbox.env()["PATH"]) is None
    env = sandbox.env(**credentials(moto_server, bucket, secret_key, S3_MOUNT_TOOLS="geesefs,s3fs"))
    result = sandbox.run(env)

    assert result.status["ok"] is True, result.output
    assert result.status["tool"] == "s3fs"
    assert "geesefs is not installed" in result.output
    assert (sandbox.mount_dir / SEED_KEY).read_bytes() == SEED_BODY
    assert_no_secret(sandbox, result, secret_key)


@pytest.mark.fuse
@pytest.mark.usefixtures("fuse_available")
def test_baked_credentials_file_is_parsed_and_the_environment_wins(
    sandbox: Sandbox, moto_server: MotoServer, bucket: str, secret_key: str
) -> None:
    marker = sandbox.root / "injected"
    baked = sandbox.root / "credentials.env"
    baked.write_text(
        f"AWS_ACCESS_KEY_ID={moto_server.access_key}\n"
        f"AWS_SECRET_ACCESS_KEY={secret_key}\n"
        "S3_BUCKET_NAME=bucket-from-the-file-loses\n"
        f"S3_ENDPOINT_URL={moto_server.endpoint}\r\n"
        f"PATH=/nonexistent\n"
        f"AWS_REGION=$(touch {marker})\n"
    )
    baked.chmod(0o400)
    env = sandbox.env(
        S3_CREDENTIALS_FILE=str(baked),
        S3_BUCKET_NAME=bucket,
        AWS_SECRET_ACCESS_KEY="",  # set but empty: the file's value is used
        S3_MOUNT_TOOLS="s3fs",
    )
    result = sandbox.run(env)

    assert result.status["ok"] is True, result.output
    assert result.status["bucket"] == bucket
    assert (sandbox.mount_dir / SEED_KEY).read_bytes() == SEED_BODY
    assert not marker.exists()
    assert_no_secret(sandbox, result, secret_key)


# --- faults: each exits 0 quickly, reports why and leaves nothing behind ------------------------


@pytest.mark.fuse
@pytest.mark.usefixtures("fuse_available")
def test_no_credentials(sandbox: Sandbox, moto_server: MotoServer, bucket: str) -> None:
    env = sandbox.env(S3_BUCKET_NAME=bucket, S3_ENDPOINT_URL=moto_server.endpoint)
    result = sandbox.run(env)
    assert_clean_failure(sandbox, result, None, r"^no credentials", FAST_FAILURE_SECONDS)


@pytest.mark.fuse
@pytest.mark.usefixtures("fuse_available")
def test_wrong_secret_is_rejected(sandbox: Sandbox, moto_iam_server: MotoServer) -> None:
    name = f"sandbox-{uuid.uuid4().hex[:12]}"
    moto_iam_server.client("s3").create_bucket(Bucket=name)
    wrong = f"WrOnG{secrets.token_hex(12)}"
    env = sandbox.env(
        **credentials(moto_iam_server, name, wrong, S3_MOUNT_TOOLS="rclone s3fs"),
    )
    result = sandbox.run(env)
    rejected = r"rclone: the endpoint rejected the credentials.*s3fs: the endpoint rejected"
    assert_clean_failure(sandbox, result, wrong, rejected, FAST_FAILURE_SECONDS)
    assert moto_iam_server.secret_key not in result.output


@pytest.mark.fuse
@pytest.mark.usefixtures("fuse_available")
@pytest.mark.parametrize("tool", ["rclone", "s3fs"])
def test_missing_bucket(
    sandbox: Sandbox, moto_server: MotoServer, secret_key: str, tool: str
) -> None:
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    env = sandbox.env(**credentials(moto_server, missing, secret_key, S3_MOUNT_TOOLS=tool))
    result = sandbox.run(env)
    assert_clean_failure(
        sandbox,
        result,
        secret_key,
        rf"{tool}: bucket {missing} does not exist",
        FAST_FAILURE_SECONDS,
    )
    assert missing not in [b["Name"] for b in moto_server.client("s3").list_buckets()["Buckets"]]


@pytest.mark.fuse
@pytest.mark.usefixtures("fuse_available")
def test_closed_endpoint_fails_fast(sandbox: Sandbox, secret_key: str) -> None:
    env = sandbox.env(
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY=secret_key,
        S3_BUCKET_NAME="sandbox-bucket",
        S3_ENDPOINT_URL=closed_endpoint(),
        S3_MOUNT_TOOLS="rclone s3fs",
    )
    result = sandbox.run(env)
    assert_clean_failure(
        sandbox, result, secret_key, r"refused the connection", FAST_FAILURE_SECONDS
    )


@pytest.mark.fuse
@pytest.mark.usefixtures("fuse_available")
def test_silent_endpoint_is_given_up_within_the_phase_bound(
    sandbox: Sandbox, secret_key: str
) -> None:
    with silent_endpoint() as endpoint:
        env = sandbox.env(
            AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
            AWS_SECRET_ACCESS_KEY=secret_key,
            S3_BUCKET_NAME="sandbox-bucket",
            S3_ENDPOINT_URL=endpoint,
            S3_MOUNT_TIMEOUT=str(SILENT_PHASE_SECONDS),
        )
        result = sandbox.run(env)
    assert_clean_failure(
        sandbox, result, secret_key, r"did not answer within", SILENT_PHASE_SECONDS + 8
    )


@pytest.mark.fuse
@pytest.mark.usefixtures("fuse_available")
def test_no_permission_to_mount(
    sandbox: Sandbox, moto_server: MotoServer, bucket: str, secret_key: str
) -> None:
    # As the sandbox user, FUSE is refused (/dev/fuse is root-only, no user_allow_other).
    hand_to_sandbox_user(sandbox)
    env = sandbox.env(**credentials(moto_server, bucket, secret_key, S3_MOUNT_TOOLS="rclone s3fs"))
    result = sandbox.run(env, as_uid=SANDBOX_UID)
    assert_clean_failure(
        sandbox, result, secret_key, r"no permission to mount", FAST_FAILURE_SECONDS
    )


def test_status_json_stays_valid_with_odd_characters(sandbox: Sandbox) -> None:
    odd = 'quote" back\\slash\ttab\nnewline\x01ctl é'
    result = sandbox.run(sandbox.env(S3_BUCKET_NAME=odd))
    assert result.returncode == 0, result.output
    assert result.status["ok"] is False
    assert result.status["bucket"] == odd
    assert result.status["error"].startswith("no credentials")
    assert not list(sandbox.status_file.parent.glob("*.??????")), "temporary status file left"


# --- the full start command: Jupyter wait and code-interpreter server ---------------------------


def start_full(sandbox: Sandbox, **overrides: str) -> subprocess.Popen[str]:
    """The script without --mount-only and without credentials: the mount fails, servers start."""
    env = sandbox.env(**overrides)
    return subprocess.Popen(
        ["bash", str(SCRIPT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        cwd=sandbox.root,
    )


def fake_command(sandbox: Sandbox, name: str, body: str) -> Path:
    path = sandbox.bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_jupyter_wait_gives_up_cheaply(sandbox: Sandbox) -> None:
    wait_seconds = 5
    fake_command(sandbox, "jupyter", "exec sleep 60")
    process = start_full(
        sandbox,
        JUPYTER_STATUS_URL=f"{closed_endpoint()}/api/status",
        JUPYTER_WAIT_TIMEOUT=str(wait_seconds),
        CODE_INTERPRETER_DIR=str(sandbox.root / "server"),
    )
    try:
        assert process.stdout is not None
        started = time.monotonic()
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Jupyter did not answer" in line:
                break
        waited = time.monotonic() - started
        # The waiter has exited (a zombie of the fake Jupyter) and holds its children's CPU time.
        cpu = group_cpu_seconds(process.pid, exclude_pid=process.pid)
    finally:
        stop_group(process)
    output = "".join(lines)
    assert "Jupyter did not answer" in output, output
    assert wait_seconds - 1 <= waited <= wait_seconds + 5, output
    assert cpu / waited < 0.01, f"waiting cost {cpu:.3f} CPU-s in {waited:.1f} s"
    assert "bucket not mounted, the sandbox starts without it" in output


def test_code_interpreter_starts_once_jupyter_answers(sandbox: Sandbox) -> None:
    site = sandbox.root / "jupyter-site"
    (site / "api").mkdir(parents=True)
    (site / "api" / "status").write_text('{"started": "now"}')
    port = closed_endpoint().rsplit(":", 1)[1]
    fake_command(
        sandbox, "jupyter", f'cd "{site}" && exec python3 -m http.server {port} -b 127.0.0.1'
    )
    server_dir = sandbox.root / "server"
    uvicorn_log = sandbox.root / "uvicorn-args"
    (server_dir / ".venv" / "bin").mkdir(parents=True)
    uvicorn = server_dir / ".venv" / "bin" / "uvicorn"
    uvicorn.write_text(f'#!/bin/sh\necho "$(pwd) $*" > "{uvicorn_log}"\nexec sleep 60\n')
    uvicorn.chmod(0o755)

    process = start_full(
        sandbox,
        JUPYTER_STATUS_URL=f"http://127.0.0.1:{port}/api/status",
        JUPYTER_WAIT_TIMEOUT="20",
        CODE_INTERPRETER_DIR=str(server_dir),
    )
    try:
        started = wait_for(uvicorn_log.exists, timeout=20)
    finally:
        stop_group(process)
    assert started, "uvicorn was not started after Jupyter answered"
    expected = f"{server_dir} main:app --host 0.0.0.0 --port 49999 --workers 1"
    expected += " --no-access-log --no-use-colors --timeout-keep-alive 640"
    assert uvicorn_log.read_text().split() == expected.split()
