"""The mount program's own behaviour through real FUSE: a mount that cannot be made fails fast
with a reason and leaves nothing behind, a healthy mount is kept, a broken one replaced, the
unmounted mount point refuses writes, and the secret appears in no output, file or command line."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.bucket_mounts import (
    AS_SANDBOX_USER,
    SANDBOX_UID,
    Host,
    ProgramMount,
    is_mounted,
    program_mount,
    wait_for,
)
from harness.moto_server import MotoServer
from harness.ports import free_port, silent_endpoint
from harness.wan_proxy import WanProxy
from s3mount.mountpoint import set_immutable

pytestmark = pytest.mark.fuse

# A failure must be over in seconds, far below the 30 s mount bound, so that waiting out a timeout
# fails the test; the margin is for a loaded CI machine.
FAST_FAILURE_SECONDS = 10


@pytest.fixture
def secret_key() -> str:
    """A secret unique to the test (moto without IAM enforcement accepts any), to hunt for."""
    return f"SeCrEt{secrets.token_hex(12)}"


def new_mount(
    made: list[ProgramMount],
    host: Host,
    bucket: str,
    endpoint: str,
    secret: str,
    **settings: str,
) -> ProgramMount:
    mount = program_mount(bucket, endpoint, "AKIDEXAMPLE", secret, host, **settings)
    made.append(mount)
    return mount


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


def everything_written(mount: ProgramMount) -> str:
    """Every output of the program and every file it wrote."""
    outputs = [r.stdout + r.stderr for r in mount.results]
    files = [p.read_text(errors="replace") for p in mount.run_dir.rglob("*") if p.is_file()]
    return "\n".join(outputs + files)


def assert_clean_failure(mount: ProgramMount, result: Any, reason: str, secret: str) -> None:
    assert result.returncode == 1, result.stderr
    status = mount.status()
    assert status["ok"] is False and status["tool"] is None, status
    assert re.search(reason, status["error"]), status["error"]
    assert reason and re.search(reason, result.stderr)
    assert not is_mounted(mount.dir)
    assert processes_mentioning(str(mount.env["S3_MOUNT_DIR"])) == []
    assert secret not in everything_written(mount)


def timed(mount: ProgramMount, command: str = "mount") -> tuple[Any, float]:
    started = time.monotonic()
    result = mount.run(command)
    return result, time.monotonic() - started


# --- faults -----------------------------------------------------------------------------------


def test_a_missing_bucket(
    made: list[ProgramMount], mount_host: Host, moto_server: MotoServer, secret_key: str
) -> None:
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    mount = new_mount(made, mount_host, missing, moto_server.endpoint, secret_key)
    result, seconds = timed(mount)
    assert_clean_failure(mount, result, rf"bucket {missing} does not exist", secret_key)
    assert seconds < FAST_FAILURE_SECONDS


def test_rejected_credentials(
    made: list[ProgramMount],
    mount_host: Host,
    moto_server: MotoServer,
    bucket: str,
    secret_key: str,
) -> None:
    with WanProxy(moto_server.endpoint, latency_ms=0, mib_per_s=0) as proxy:
        proxy.set_mode("reject")
        mount = new_mount(made, mount_host, bucket, proxy.endpoint, secret_key)
        result, seconds = timed(mount)
    assert_clean_failure(mount, result, r"rejected the credentials", secret_key)
    assert seconds < FAST_FAILURE_SECONDS


def test_a_closed_endpoint(
    made: list[ProgramMount], mount_host: Host, bucket: str, secret_key: str
) -> None:
    mount = new_mount(made, mount_host, bucket, f"http://127.0.0.1:{free_port()}", secret_key)
    result, seconds = timed(mount)
    assert_clean_failure(mount, result, r"refused the connection", secret_key)
    assert seconds < FAST_FAILURE_SECONDS


def test_a_silent_endpoint_is_given_up_within_the_bound(
    made: list[ProgramMount], mount_host: Host, bucket: str, secret_key: str
) -> None:
    with silent_endpoint() as endpoint:
        mount = new_mount(made, mount_host, bucket, endpoint, secret_key, S3_MOUNT_TIMEOUT="5")
        result, seconds = timed(mount)
    assert_clean_failure(mount, result, r"did not answer within 5 s", secret_key)
    assert seconds < 5 + 3


def test_no_permission_to_mount_as_the_sandbox_user(
    made: list[ProgramMount], moto_server: MotoServer, bucket: str, secret_key: str
) -> None:
    mount = new_mount(made, Host("debian12"), bucket, moto_server.endpoint, secret_key)
    for path in (mount.root, *mount.root.rglob("*")):
        os.chown(path, SANDBOX_UID, SANDBOX_UID)
    completed = subprocess.run(
        [*AS_SANDBOX_USER, *mount.host.command("mount")],
        env=mount.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    mount.results.append(completed)
    assert_clean_failure(mount, completed, r"no permission to mount", secret_key)


def test_bad_settings_stop_before_anything_is_touched(
    made: list[ProgramMount], mount_host: Host, moto_server: MotoServer, secret_key: str
) -> None:
    mount = new_mount(
        made, mount_host, "Bad_Name", moto_server.endpoint, secret_key, S3_MOUNT_DIR="/usr/bin"
    )
    result = mount.run("mount")
    assert result.returncode == 2
    assert "S3_BUCKET_NAME = 'Bad_Name'" in result.stderr and "S3_MOUNT_DIR" in result.stderr
    assert secret_key not in result.stderr
    assert not mount.run_dir.exists()


# --- a healthy mount, a broken one ------------------------------------------------------------


@pytest.fixture
def mounted(
    made: list[ProgramMount],
    mount_host: Host,
    moto_server: MotoServer,
    bucket: str,
    secret_key: str,
) -> ProgramMount:
    return new_mount(made, mount_host, bucket, moto_server.endpoint, secret_key).mount()


def test_a_healthy_mount_is_kept_as_it_is(mounted: ProgramMount) -> None:
    before = mounted.status()
    again = mounted.run("mount")
    assert again.returncode == 0
    assert "already mounted and healthy" in again.stderr
    assert mounted.status()["pid"] == before["pid"]
    assert mounted.run("check").returncode == 0


def test_a_client_that_dies_is_reported_and_its_mount_point_closed(mounted: ProgramMount) -> None:
    os.kill(mounted.status()["pid"], signal.SIGKILL)
    assert wait_for(lambda: mounted.status()["ok"] is False, timeout=5) is not None
    assert "s3fs exited while mounted" in mounted.status()["error"]
    assert wait_for(lambda: not is_mounted(mounted.dir), timeout=5) is not None
    with pytest.raises(PermissionError):
        (mounted.dir / "lost.txt").write_text("would be on the local disk only\n")
    assert mounted.run("mount").returncode == 0


def test_a_broken_mount_nobody_watched_is_replaced(mounted: ProgramMount) -> None:
    assert wait_for(lambda: mounted.status()["watcher"] is not None, timeout=5) is not None
    status = mounted.status()
    os.kill(status["watcher"], signal.SIGKILL)
    os.kill(status["pid"], signal.SIGKILL)  # the mount point now answers ENOTCONN
    assert wait_for(lambda: mounted.run("check").returncode == 1, timeout=5) is not None
    again = mounted.run("mount")
    assert again.returncode == 0, again.stderr
    assert "replacing the stale or broken mount" in again.stderr
    assert mounted.status()["pid"] not in (None, status["pid"])
    (mounted.dir / "after-repair.txt").write_text("works\n")


def test_the_unmounted_mount_point_refuses_writes(mounted: ProgramMount) -> None:
    assert mounted.run("unmount").returncode == 0
    assert not is_mounted(mounted.dir)
    assert mounted.status()["error"] == "stopped on request"
    with pytest.raises(PermissionError):
        (mounted.dir / "lost.txt").write_text("would be on the local disk only\n")


def test_files_left_under_the_mount_point_are_never_hidden(mounted: ProgramMount) -> None:
    mounted.run("unmount")
    set_immutable(str(mounted.dir), False)
    (mounted.dir / "written-while-unmounted.txt").write_text("only on the local disk\n")
    result = mounted.run("mount")
    assert result.returncode == 1
    assert "is not empty" in mounted.status()["error"]


def test_the_secret_stays_out_of_argv_outputs_status_and_log(
    mounted: ProgramMount, secret_key: str
) -> None:
    (mounted.dir / "a.txt").write_text("a\n")
    assert processes_mentioning(secret_key) == []
    assert secret_key not in everything_written(mounted)
    status_mode = mounted.status_path.stat().st_mode & 0o777
    log_mode = mounted.status_path.with_suffix(".log").stat().st_mode & 0o777
    assert (status_mode, log_mode) == (0o644, 0o600)


# --- `run`: the mode the host's systemd unit uses ----------------------------------------------


@pytest.fixture
def supervised(
    made: list[ProgramMount],
    mount_host: Host,
    moto_server: MotoServer,
    bucket: str,
    secret_key: str,
    tmp_path: Path,
) -> Iterator[tuple[ProgramMount, subprocess.Popen[bytes]]]:
    """`s3mount run` as systemd starts it (Type=notify), once it said READY=1."""
    mount = new_mount(made, mount_host, bucket, moto_server.endpoint, secret_key)
    # An abstract socket: the same name inside the Debian 13 chroot, which shares the network.
    address = f"e2b-s3-mount-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind("\0" + address)
        notify.settimeout(60)
        with (tmp_path / "run.log").open("wb") as log:
            process = subprocess.Popen(
                mount.host.command("run"),
                env={**mount.env, "NOTIFY_SOCKET": "@" + address},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            message = notify.recv(4096).decode()
            assert "READY=1" in message and f"MAINPID={process.pid}" in message, message
            yield mount, process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


def test_run_is_ready_only_once_mounted_and_unmounts_cleanly_on_sigterm(
    supervised: tuple[ProgramMount, subprocess.Popen[bytes]],
) -> None:
    mount, process = supervised
    assert is_mounted(mount.dir) and mount.status()["ok"] is True
    (mount.dir / "through-the-unit.txt").write_text("kept\n")
    process.send_signal(signal.SIGTERM)  # `systemctl stop`
    assert process.wait(timeout=30) == 0
    assert not is_mounted(mount.dir)
    assert mount.status()["error"] == "stopped on request"


def test_run_fails_when_its_client_dies_so_systemd_restarts_it(
    supervised: tuple[ProgramMount, subprocess.Popen[bytes]],
) -> None:
    mount, process = supervised
    os.kill(mount.status()["pid"], signal.SIGKILL)
    assert process.wait(timeout=30) == 1  # Restart=on-failure
    assert "s3fs exited while mounted" in mount.status()["error"]
    assert not is_mounted(mount.dir)
