"""The container engine the local stack builds its sandbox image with: a Docker engine that
answers `docker info`, or else podman's Docker-compatible API, served on a socket in
build/podman/ for as long as the local stack runs (`make down` stops it). Neither can be
installed for the user (a system service); the message names the command that installs one and
passes on `docker info`'s own reason.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PODMAN_DIR = PROJECT_DIR / "build" / "podman"
SOCKET = PODMAN_DIR / "podman.sock"
PID_FILE = PODMAN_DIR / "pid"
LOG_FILE = PODMAN_DIR / "podman.log"
_REASON_MAX = 300


class EngineError(Exception):
    """No engine answers; the message says why and what installs one."""


def _reason(output: str) -> str:
    """A tool's own words, on one line."""
    text = " ".join(line.strip() for line in output.splitlines() if line.strip())
    return text if len(text) <= _REASON_MAX else text[:_REASON_MAX] + "..."


def docker_answers() -> tuple[bool, str]:
    """Whether a Docker engine answers, and if not, why (`docker info`'s own reason)."""
    if shutil.which("docker") is None:
        return False, "no docker CLI on PATH"
    try:
        info = subprocess.run(
            ["docker", "info"], capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return False, "`docker info` did not answer in 30 s"
    if info.returncode == 0:
        return True, ""
    return False, f"`docker info` says: {_reason(info.stderr or info.stdout)}"


def _api_answers(path: Path) -> bool:
    """The Docker API's ping on a unix socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(str(path))
            client.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
            return client.recv(64).startswith(b"HTTP/1.")
    except OSError:
        return False


def _running_service() -> int | None:
    try:
        pid = int(PID_FILE.read_text(encoding="utf-8"))
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def podman_socket() -> str:
    """DOCKER_HOST for podman's Docker-compatible API, started here if it is not running."""
    if _running_service() is not None and _api_answers(SOCKET):
        return f"unix://{SOCKET}"
    PODMAN_DIR.mkdir(parents=True, exist_ok=True)
    SOCKET.unlink(missing_ok=True)
    with LOG_FILE.open("wb") as log:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{SOCKET}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # it outlives make, like the emulator
        )
    PID_FILE.write_text(f"{service.pid}\n", encoding="utf-8")
    deadline = time.monotonic() + 30
    while not _api_answers(SOCKET):
        if service.poll() is not None or time.monotonic() > deadline:
            stop_podman()
            log_text = LOG_FILE.read_text(encoding="utf-8", errors="replace")
            raise EngineError(
                f"podman's Docker-compatible API did not start: {_reason(log_text) or 'no output'}"
                f" (see {LOG_FILE})"
            )
        time.sleep(0.2)
    return f"unix://{SOCKET}"


def stop_podman() -> None:
    """Stops the podman service this project started, if it runs."""
    pid = _running_service()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
    PID_FILE.unlink(missing_ok=True)
    SOCKET.unlink(missing_ok=True)


def install_hint(docker_reason: str) -> str:
    if "permission denied" in docker_reason.lower():
        return (
            "let yourself use the Docker socket (`sudo usermod -aG docker $USER`, then log in "
            "again), or install podman"
        )
    if platform.system() == "Darwin":
        return (
            "start Docker Desktop (https://docs.docker.com/desktop/), or install podman "
            "(`brew install podman && podman machine init && podman machine start`)"
        )
    return (
        "install podman (`sudo apt-get install -y podman`; make uses its Docker-compatible "
        "socket), or start Docker (`sudo systemctl start docker`)"
    )


def find_engine() -> tuple[str | None, str]:
    """(DOCKER_HOST to use, None for Docker's default; what was chosen, for the log)."""
    answers, reason = docker_answers()
    if answers:
        return None, "the Docker engine"
    if shutil.which("podman") is not None:
        host = podman_socket()
        return host, f"podman's Docker-compatible API at {host} (no Docker engine: {reason})"
    raise EngineError(
        f"no container engine answers ({reason}), and the local stack builds the sandbox image: "
        f"{install_hint(reason)}"
    )
