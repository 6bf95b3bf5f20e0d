"""Real image builds with podman, without a Docker engine or a registry.

- This machine's podman needs its own containers.conf (runc, explicit ulimits) and builds with
  chroot isolation and host networking; nothing can be pulled.
- The base image (e2bdev/code-interpreter, Debian 13) cannot be pulled either, so a stand-in is
  made with debootstrap (harness/debian_root.py): Debian 13 with python3, pip and sudo (E2B's
  own image setup gives the sandbox user sudo; the start command must take it away).
- The stand-in is tagged in the base image's repository. It cannot carry the default's digest
  (a digest is the hash of the real manifest), so builds pass it as the BASE_IMAGE build arg.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.debian_root import CACHE_DIR, IMAGE_BASE, recipe_key, rootfs_tarball
from harness.paths import DOCKERFILE, REPO_ROOT
from program.shared import Channel, Consumer, received
from s3mount.contract import START_SCRIPT, render_env

STANDIN_REPOSITORY = "docker.io/e2bdev/code-interpreter"
# What the real base provides and the stand-in must imitate for RUN pip to work here.
STANDIN_ENV = {
    "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
    "PIP_BREAK_SYSTEM_PACKAGES": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}

_CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
"""
_STEP = re.compile(r"^(?:\[\d+/\d+\] )?STEP \d+/\d+: (?P<instruction>\w+)")
_USING_CACHE = re.compile(r"^--> Using cache\b")


def containers_conf() -> Path:
    """The containers.conf this machine needs, written once under build/."""
    path = CACHE_DIR / "containers.conf"
    if not path.exists() or path.read_text() != _CONTAINERS_CONF:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_CONTAINERS_CONF)
    return path


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(containers_conf())
    return env


def podman(
    *args: str, check: bool = True, timeout: float = 600, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run podman with this machine's configuration; output is captured as text."""
    result = subprocess.run(
        ["podman", *args],
        input=input_text,
        capture_output=True,
        text=True,
        env=podman_env(),
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        command = " ".join(args)
        output = f"{result.stdout}\n{result.stderr}"
        raise RuntimeError(f"podman {command} failed ({result.returncode}):\n{output}")
    return result


def stack_build_args(
    standin: str, outputs: Mapping[str, str], code_user: str = "user"
) -> dict[str, str]:
    """The build args components/image.py makes from the stack's values, on the stand-in base."""
    return {
        "BASE_IMAGE": standin,
        "SANDBOX_SETTINGS": render_env(received(Consumer.SANDBOX, Channel.SETTINGS, outputs)),
        "SANDBOX_CREDENTIALS": render_env(received(Consumer.SANDBOX, Channel.CREDENTIALS, outputs)),
        "SANDBOX_CODE_USER": code_user,
        "START_SCRIPT": START_SCRIPT,
    }


def ensure_standin_base() -> str:
    """The stand-in base image reference, imported from the cached root file system."""
    reference = f"{STANDIN_REPOSITORY}:debootstrap-standin-{recipe_key(IMAGE_BASE)}"
    if podman("image", "exists", reference, check=False).returncode == 0:
        return reference
    changes: list[str] = []
    for name, value in STANDIN_ENV.items():
        changes += ["--change", f"ENV {name}={value}"]
    changes += ["--change", 'CMD ["/bin/bash"]']
    podman("import", *changes, str(rootfs_tarball(IMAGE_BASE)), reference)
    return reference


@dataclass(frozen=True)
class BuildResult:
    """One `podman build`: its exit code, combined output and wall time."""

    returncode: int
    log: str
    seconds: float
    image_id: str | None

    @property
    def run_steps(self) -> int:
        return sum(1 for instruction, _ in _steps(self.log) if instruction == "RUN")

    @property
    def run_steps_executed(self) -> int:
        """RUN steps that actually ran: those podman did not report as taken from cache."""
        return sum(
            1 for instruction, cached in _steps(self.log) if instruction == "RUN" and not cached
        )


def _steps(log: str) -> list[tuple[str, bool]]:
    """(instruction, taken from cache) for every STEP the build log reports."""
    steps: list[tuple[str, bool]] = []
    for line in log.splitlines():
        step = _STEP.match(line)
        if step:
            steps.append((step.group("instruction").upper(), False))
        elif _USING_CACHE.match(line) and steps:
            steps[-1] = (steps[-1][0], True)
    return steps


def build_image(
    build_args: Mapping[str, str],
    tag: str,
    context: Path = REPO_ROOT,
    dockerfile: Path = DOCKERFILE,
    extra_args: Sequence[str] = (),
) -> BuildResult:
    """Build the Dockerfile with the given build args; the caller decides what a failure means."""
    with tempfile.TemporaryDirectory(prefix="podman-build-") as tmp:
        iidfile = Path(tmp) / "iid"
        command = [
            "build",
            "--isolation=chroot",
            "--network=host",
            "--pull=never",
            # Docker's image format, as a Docker engine builds it: OCI images drop SHELL.
            "--format=docker",
            "--layers",
            "--iidfile",
            str(iidfile),
            "-f",
            str(dockerfile),
            "-t",
            tag,
            *extra_args,
        ]
        for name, value in build_args.items():
            command += ["--build-arg", f"{name}={value}"]
        started = time.monotonic()
        result = subprocess.run(
            ["podman", *command, str(context)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=podman_env(),
            timeout=900,
            check=False,
        )
        seconds = time.monotonic() - started
        image_id = iidfile.read_text().strip() if iidfile.exists() else None
    return BuildResult(result.returncode, result.stdout, seconds, image_id or None)


def inspect_image(reference: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(podman("image", "inspect", reference).stdout)
    return data[0]


def image_history(reference: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(
        podman("history", "--no-trunc", "--format", "json", reference).stdout
    )
    return entries


def run_in_image(
    image: str, command: Sequence[str], run_args: Sequence[str] = (), timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a throwaway container from the image (host network, like the builds)."""
    return podman(
        "run", "--rm", "--network=host", *run_args, image, *command, check=False, timeout=timeout
    )


def remove_image(reference: str) -> None:
    podman("rmi", "--force", reference, check=False)
