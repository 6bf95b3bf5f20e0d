"""Staying with a running client: its errors into the status file, its end reported, a clean
unmount on SIGTERM; systemd told when the mount is ready."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from s3mount.client import CLIENT, error_lines, expired_reason, explain
from s3mount.mounting import stop_on_request
from s3mount.mountpoint import unmount
from s3mount.processes import alive, client_pid
from s3mount.publish import socket_path
from s3mount.settings import MountSettings, parse_moment
from s3mount.status import StatusFile, exclusive, log, utc_stamp


def notify_systemd(message: str) -> None:
    """sd_notify without libsystemd: a datagram to $NOTIFY_SOCKET, when systemd set one."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.sendto(message.encode(), address)


def expired(expires_at: str) -> bool:
    """The session's credentials expired (never, for a long-lived key)."""
    moment = parse_moment(expires_at)
    return moment is not None and moment <= datetime.datetime.now(datetime.UTC)


def supervise(status: StatusFile, client: subprocess.Popen[bytes] | None) -> int:
    """Stays with the client while it runs: each error it logs goes into the status file as
    `lastError` (close() failed with it), its end makes the status say why. SIGTERM unmounts
    cleanly (exit 0); the client dying is a failure a supervisor such as systemd restarts (1).
    Another supervisor taking over (its pid in `watcher`) ends this one quietly. A detached
    watcher (client None) is registered by the mount that started it, under the mount's lock; one
    that finds itself no longer registered (an unmount came first) leaves at once."""
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: stopping.append(number))
    me = os.getpid()
    with exclusive(status):
        current = status.read()
        if client is None and current.get("watcher") != me:
            return 0
        status.update(watcher=me)
    mount_dir = str(current.get("mountDir", ""))
    pid = client.pid if client is not None else client_pid(current, mount_dir)
    notify_systemd(f"READY=1\nMAINPID={me}\nSTATUS=mounted at {mount_dir}")
    logged = current.get("logOffset")
    offset = logged if isinstance(logged, int) else len(status.log_text().encode())
    while not stopping:
        if pid is None or (client.poll() is not None if client else not alive(pid)):
            with exclusive(status):
                current = status.read()
                if current.get("watcher") != me:
                    return 0  # dismissed: whoever ended the client has mounted or unmounted
                unmount(mount_dir)
                errors = error_lines(status.log_text(offset))
                reason = explain(
                    errors,
                    str(current.get("bucket")),
                    str(current.get("endpoint", "")),
                    f"{CLIENT} exited while mounted",
                    str(current.get("credentialsExpireAt") or ""),
                )
                status.update(ok=False, tool=None, error=reason, pid=None, watcher=None)
            log(f"the mount at {mount_dir} ended: {reason}")
            return 1
        text = status.log_text(offset)
        offset += len(text.encode())
        errors = error_lines(text)
        current = status.read()
        if current.get("watcher") != me:
            return 0
        expires_at = str(current.get("credentialsExpireAt") or "")
        if errors:
            endpoint = str(current.get("endpoint", ""))
            reason = explain(
                errors, str(current.get("bucket")), endpoint, "an operation failed", expires_at
            )
            status.update(lastError=reason, lastErrorAt=utc_stamp())
        elif expired(expires_at) and not current.get("expired"):
            # Said before the first write fails: nothing through the mount can succeed now.
            status.update(
                expired=True,
                lastError=expired_reason(expires_at),
                lastErrorAt=utc_stamp(),
            )
        time.sleep(0.5)
    notify_systemd("STOPPING=1")
    with exclusive(status):
        stop_on_request(status, mount_dir)
    log(f"unmounted {mount_dir}")
    return 0


def program_command() -> list[str]:
    """How to start this program again: its zipapp as shipped, or its package from a checkout."""
    package_parent = Path(__file__).resolve().parent.parent
    if package_parent.is_file():  # inside the zipapp: the archive itself runs
        return [sys.executable, "-I", str(package_parent)]
    bootstrap = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); import s3mount.cli as c; "
        "sys.exit(c.main())"
    )
    return [sys.executable, "-I", "-c", bootstrap, str(package_parent)]


def _detached(command: str, status: StatusFile, stdin: int) -> subprocess.Popen[bytes]:
    """This program's COMMAND for the mount behind STATUS, in a session of its own so it
    outlives its caller, with a bare environment: nothing of the caller's (its keys) leaks in.
    What it says goes to the client's log (root only), where a failure of it can be read."""
    with os.fdopen(status.open_log(), "ab") as client_log:
        return subprocess.Popen(
            [*program_command(), command, "--status", str(status.path)],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=client_log,
            start_new_session=True,
        )


def start_watcher(status: StatusFile) -> None:
    """A detached supervisor for a mount that outlives this program (the sandbox's), registered
    in the status here: the caller holds the mount's lock, so no unmount can come between."""
    watcher = _detached("watch", status, stdin=subprocess.DEVNULL)
    status.update(watcher=watcher.pid)


def start_publisher(s: MountSettings, status: StatusFile, client_pid: int) -> None:
    """The mount's publisher (s3mount/publisher.py), detached; the mount's credentials reach it on
    its stdin, never in its argv or environment. Its pid goes into the status (the caller holds
    the mount's lock), and the mount is reported once the publisher listens."""
    publisher = _detached("publish-server", status, stdin=subprocess.PIPE)
    given = {
        "bucket": s.bucket,
        "prefix": s.key_prefix,
        "region": s.region,
        "endpoint": s.endpoint,
        "accessKeyId": s.access_key_id,
        "secret": s.secret_access_key,
        "token": s.session_token,
        "clientPid": client_pid,
        "uid": s.uid,
    }
    if publisher.stdin is not None:
        with publisher.stdin:
            publisher.stdin.write(json.dumps(given).encode())
    status.update(publisher=publisher.pid)
    listening = socket_path(status.path)
    for _ in range(100):
        if listening.exists() or publisher.poll() is not None:
            return
        time.sleep(0.02)
    log(f"the publisher of {s.mount_dir} is not listening yet")
