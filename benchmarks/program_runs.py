"""Running a program's script as the sandbox user, timed and capped, and seeding local disk."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.program_inputs import LISTING_FILES
from benchmarks.programs import Seed
from harness.bucket_mounts import AS_SANDBOX_USER, SANDBOX_UID

# After the cap, how long the killed program may take to go (a FUSE call in flight ends within
# s3fs's own request timeouts).
KILL_SECONDS = 120
# How the rm -rf program's tree gets there: extracted by the sandbox user.
EXTRACT = 'tar -xf "$INPUTS/tree.tar"'


@dataclass
class Run:
    seconds: float | None
    """None: still running at the cap, and killed."""
    requests: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    failure: str | None = None


def sandbox_owned(directory: Path) -> Path:
    """directory (made if missing) owned by the sandbox user."""
    directory.mkdir(exist_ok=True)
    os.chown(directory, SANDBOX_UID, SANDBOX_UID)
    directory.chmod(0o755)
    return directory


def sandbox_environment(inputs: Path, out: Path) -> dict[str, str]:
    home = sandbox_owned(inputs.parent / "home")
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "INPUTS": str(inputs),
        "OUT": str(out),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "agent",
        "GIT_AUTHOR_EMAIL": "agent@example.com",
        "GIT_COMMITTER_NAME": "agent",
        "GIT_COMMITTER_EMAIL": "agent@example.com",
    }


def as_sandbox_user(script: str, cwd: Path, inputs: Path, out: Path, cap: float) -> Run:
    """bash -c script as uid 1000 in cwd; killed (its whole process group) at the cap."""
    command = [*AS_SANDBOX_USER, "bash", "-euc", script]
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=sandbox_environment(inputs, out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, errors = process.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=KILL_SECONDS)
        return Run(None)
    took = time.perf_counter() - started
    if process.returncode != 0:
        last = errors.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return Run(took, failure=f"exit {process.returncode}: {last[0][:160]}")
    return Run(took)


def seed_local(seed: Seed, work: Path, inputs: Path, cap: float) -> None:
    """The working directory's start on local disk, as the sandbox user would have it."""
    if seed is Seed.EXTRACTED:
        run = as_sandbox_user(EXTRACT, work, inputs, work, cap)
        if run.failure or run.seconds is None:
            raise SystemExit(f"the seed ({EXTRACT}) failed on local disk: {run.failure or 'cap'}")
    elif seed is Seed.LISTING:
        sandbox_owned(work / "listing")
        for number in range(LISTING_FILES):
            (work / "listing" / f"{number:04d}").write_bytes(b"x")
    elif seed is Seed.TREE:
        shutil.copytree(inputs / "tree", work / "tree")
        for path in (work / "tree", *(work / "tree").rglob("*")):
            os.chown(path, SANDBOX_UID, SANDBOX_UID)
