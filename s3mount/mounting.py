"""Making sure the bucket is mounted and checked, or saying why not, leaving nothing behind."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from s3mount.client import (
    CLIENT,
    client_environment,
    error_lines,
    explain,
    s3fs_command,
    s3fs_version,
)
from s3mount.mountpoint import mount_entry, prepare_mount_point, probe, unmount
from s3mount.processes import client_pid, stop_process
from s3mount.settings import MountSettings
from s3mount.status import MountError, StatusFile, log


def check_endpoint(s: MountSettings, seconds: float) -> None:
    """A refused or silent endpoint fails here in seconds, with the reason, before s3fs runs."""
    if not s.endpoint:
        return
    # The endpoint was validated as an http(s) URL.
    request = urllib.request.Request(f"{s.endpoint}/", method="HEAD")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=seconds):  # noqa: S310
            return
    except urllib.error.HTTPError:
        return  # it answered: any status will do
    except (urllib.error.URLError, OSError) as failure:
        reason = getattr(failure, "reason", failure)
        if isinstance(reason, socket.timeout) or "timed out" in str(reason):
            raise MountError(
                f"the endpoint {s.endpoint} did not answer within {seconds:.0f} s"
            ) from None
        if isinstance(reason, ConnectionRefusedError):
            raise MountError(f"the endpoint {s.endpoint} refused the connection") from None
        if isinstance(reason, socket.gaierror):
            raise MountError(f"the endpoint host in {s.endpoint} does not resolve") from None
        raise MountError(f"the endpoint {s.endpoint} is unreachable ({reason})") from None


def start_client(s: MountSettings, status: StatusFile, deadline: float) -> subprocess.Popen[bytes]:
    """Starts s3fs in a session of its own (it outlives this program) and waits for the mount."""
    fd = os.open(status.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    offset = os.fstat(fd).st_size
    with os.fdopen(fd, "ab") as client_log:
        client = subprocess.Popen(
            s3fs_command(s, status.log_path, s3fs_version()),
            env=client_environment(s),
            stdin=subprocess.DEVNULL,
            stdout=client_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def failure(fallback: str) -> MountError:
        errors = error_lines(status.log_text(offset))
        return MountError(explain(errors, s.bucket, s.endpoint, fallback))

    while time.monotonic() < deadline:
        entry = mount_entry(s.mount_dir)
        if entry is not None and entry[0].startswith("fuse"):
            problem = probe(s.mount_dir, max(deadline - time.monotonic(), 1))
            if problem is None:
                return client
            stop_process(client.pid)
            unmount(s.mount_dir)
            raise failure(problem)
        if client.poll() is not None:
            raise failure(f"s3fs exited ({client.returncode}) without mounting")
        time.sleep(0.05)
    stop_process(client.pid)
    raise failure(f"not mounted within {s.timeout} s")


def healthy(s: MountSettings, status: StatusFile, seconds: float) -> bool:
    """Mounted by this bucket's client and answering the probe: nothing to redo."""
    current = status.read()
    return (
        mount_entry(s.mount_dir) is not None
        and current.get("ok") is True
        and current.get("bucket") == s.bucket
        and current.get("endpoint") == (s.endpoint or "default")
        and client_pid(current, s.mount_dir) is not None
        and probe(s.mount_dir, seconds) is None
    )


def mount(s: MountSettings, status: StatusFile) -> subprocess.Popen[bytes] | None:
    """Makes sure the bucket is mounted and checked. Returns the client when this call started
    it, None when a healthy mount was already there. Raises MountError with the reason."""
    started = time.monotonic()
    deadline = started + s.timeout
    if healthy(s, status, min(s.timeout, 10)):
        log(f"{s.mount_dir} is already mounted and healthy")
        return None
    if mount_entry(s.mount_dir) is not None or client_pid(status.read(), s.mount_dir):
        log(f"replacing the stale or broken mount at {s.mount_dir}")
        if not take_down(status, s.mount_dir):
            raise MountError(f"could not unmount the broken mount at {s.mount_dir}")
    if not Path("/dev/fuse").exists():
        raise MountError("FUSE is unavailable: /dev/fuse is missing")
    prepare_mount_point(s)
    check_endpoint(s, min(5.0, s.timeout))
    client = start_client(s, status, deadline)
    seconds = time.monotonic() - started
    status.report(s, None, seconds, client.pid)
    log(f"mounted {s.bucket} at {s.mount_dir} with {CLIENT} in {seconds:.2f} s")
    return client


def mount_reporting(s: MountSettings, status: StatusFile) -> subprocess.Popen[bytes] | None:
    """mount(); on failure a status that says why, and nothing left mounted or running."""
    started = time.monotonic()
    try:
        return mount(s, status)
    except (MountError, OSError) as failure:
        reason = (
            str(failure)
            if isinstance(failure, MountError)
            else f"{failure.filename or s.mount_dir}: {failure.strerror or failure}"
        )
        with contextlib.suppress(OSError):
            take_down(status, s.mount_dir)
        status.report(s, reason, time.monotonic() - started, None)
        raise MountError(reason) from None


def stop_on_request(status: StatusFile, mount_dir: str) -> bool:
    """`unmount`, or SIGTERM to a supervisor: take the mount down and say so in the status."""
    unmounted = take_down(status, mount_dir)
    status.update(ok=False, tool=None, error="stopped on request", pid=None)
    return unmounted


def take_down(status: StatusFile, mount_dir: str) -> bool:
    """Unmounts and stops the client; True once nothing is mounted there. Its supervisor is
    dismissed first, so it does not report the end it did not cause."""
    status.update(watcher=None)
    pid = client_pid(status.read(), mount_dir)
    unmounted = unmount(mount_dir)
    if pid is not None:
        stop_process(pid)
    return unmounted or unmount(mount_dir)
