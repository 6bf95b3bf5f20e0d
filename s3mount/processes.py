"""The client's process: is it alive, is it ours, stopping it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path

from s3mount.client import CLIENT


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def command_line(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def stop_process(pid: int) -> None:
    """SIGTERM, five seconds, SIGKILL; reaps it when it is this program's child."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not alive(pid):
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def client_pid(status: Mapping[str, object], mount_dir: str) -> int | None:
    """The client the status names, if that process is still s3fs on this mount dir."""
    pid = status.get("pid")
    if not isinstance(pid, int) or not alive(pid):
        return None
    cmdline = command_line(pid)
    return pid if cmdline[:1] == [CLIENT.encode()] and mount_dir.encode() in cmdline else None
