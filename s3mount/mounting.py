"""Making sure the bucket is mounted and checked, or saying why not, leaving nothing behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from s3mount.client import (
    CLIENT,
    EXPIRED_CODES,
    client_environment,
    error_lines,
    explain,
    s3fs_command,
    s3fs_version,
)
from s3mount.mountpoint import mount_entry, prepare_mount_point, probe, unmount
from s3mount.processes import alive, client_pid, command_line, stop_process
from s3mount.s3api import Credentials, S3Error, ensure_directory_marker
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
    fd = status.open_log()
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
        return MountError(explain(errors, s.bucket, s.endpoint, fallback, s.expires_at))

    while time.monotonic() < deadline:
        entry = mount_entry(s.mount_dir)
        if entry is not None and entry[0].startswith("fuse"):
            problem = probe(s.mount_dir, max(deadline - time.monotonic(), 1), not s.read_only)
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


def same_session(s: MountSettings, current: Mapping[str, object]) -> bool:
    """The status describes a mount of this bucket, prefix and credentials."""
    return (
        current.get("bucket") == s.bucket
        and current.get("endpoint") == (s.endpoint or "default")
        and current.get("keyPrefix") == (s.key_prefix or None)
        and current.get("accessKeyId") == (s.access_key_id or None)
        and current.get("credentialsExpireAt") == (s.expires_at or None)
        and current.get("readOnly", False) == s.read_only
    )


def healthy(s: MountSettings, status: StatusFile, seconds: float) -> bool:
    """Mounted by this bucket's client with these credentials and answering the probe: nothing
    to redo."""
    current = status.read()
    return (
        mount_entry(s.mount_dir) is not None
        and current.get("ok") is True
        and same_session(s, current)
        and client_pid(current, s.mount_dir) is not None
        and probe(s.mount_dir, seconds, not s.read_only) is None
    )


def stop_publisher(status: StatusFile) -> None:
    """The mount's publisher goes with its mount (it would publish with retired credentials)."""
    pid = status.read().get("publisher")
    if isinstance(pid, int) and alive(pid) and b"publish-server" in command_line(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    status.update(publisher=None)


def hand_over(status: StatusFile, mount_dir: str) -> bool:
    """Retires a working mount for one with new credentials (s3fs reads them only when it
    starts): a lazy unmount, so new opens no longer reach the old client while files already
    open on it stay open; the old client uploads each of them at its close, with the old
    credentials, and exits once the last is closed. True once nothing is mounted there."""
    status.update(watcher=None)
    stop_publisher(status)
    lazily = ["fusermount", "-u", "-z", mount_dir]
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(lazily, capture_output=True, timeout=10, check=False)
    return mount_entry(mount_dir) is None


def prepare_prefix(s: MountSettings) -> None:
    """A prefix is mounted only where its directory marker exists: made with the session's own
    credentials when missing."""
    if not s.key_prefix:
        return
    credentials = Credentials(s.access_key_id, s.secret_access_key, s.session_token)
    try:
        made = ensure_directory_marker(s.bucket, s.key_prefix, s.region, s.endpoint, credentials)
    except S3Error as refused:
        reason = str(refused)
        if re.search(EXPIRED_CODES, reason):
            reason = f"the credentials expired ({reason})"
        elif refused.status == 0:
            reason = f"could not reach the endpoint {s.endpoint or 'of AWS'} ({reason})"
        elif refused.status == 403:
            reason = f"the endpoint rejected the credentials ({reason})"
        raise MountError(f"cannot make the prefix {s.key_prefix} of {s.bucket}: {reason}") from None
    if made:
        log(f"made the prefix {s.key_prefix} of {s.bucket}")


def mount(s: MountSettings, status: StatusFile) -> subprocess.Popen[bytes] | None:
    """Makes sure the bucket is mounted and checked. Returns the client when this call started
    it, None when a healthy mount was already there. Raises MountError with the reason."""
    started = time.monotonic()
    deadline = started + s.timeout
    if healthy(s, status, min(s.timeout, 10)):
        log(f"{s.mount_dir} is already mounted and healthy")
        return None
    current = status.read()
    if mount_entry(s.mount_dir) is not None or client_pid(current, s.mount_dir):
        working = current.get("ok") is True and client_pid(current, s.mount_dir) is not None
        if working and not same_session(s, current):
            log(f"handing {s.mount_dir} over to new credentials")
            replaced = hand_over(status, s.mount_dir)
        else:
            log(f"replacing the stale or broken mount at {s.mount_dir}")
            replaced = take_down(status, s.mount_dir)
        if not replaced:
            raise MountError(f"could not unmount the previous mount at {s.mount_dir}")
    if not Path("/dev/fuse").exists():
        raise MountError("FUSE is unavailable: /dev/fuse is missing")
    prepare_mount_point(s)
    if s.key_prefix:
        prepare_prefix(s)  # its signed request fails as loudly as the endpoint check, one trip less
    else:
        check_endpoint(s, min(5.0, s.timeout))
    client = start_client(s, status, deadline)
    seconds = time.monotonic() - started
    status.report(s, None, seconds, client.pid)
    log(f"mounted {s.remote} at {s.mount_dir} with {CLIENT} in {seconds:.2f} s")
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
    stop_publisher(status)
    pid = client_pid(status.read(), mount_dir)
    unmounted = unmount(mount_dir)
    if pid is not None:
        stop_process(pid)
    return unmounted or unmount(mount_dir)


def wait_for_attach(s: MountSettings, status: StatusFile) -> int:
    """A sandbox whose storage comes later (per-sandbox): its mount point refuses writes, and
    the status says it waits to be attached."""
    if mount_entry(s.mount_dir) is not None:
        log(f"{s.mount_dir} is mounted already: nothing to prepare")
        return 0
    prepare_mount_point(s)
    status.report(s, "not attached yet: the backend attaches this sandbox's storage", 0, None)
    log(f"{s.mount_dir} waits to be attached (writes are refused until then)")
    return 0
