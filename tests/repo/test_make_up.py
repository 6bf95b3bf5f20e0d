"""`make up`, `make preview` and `make down` on a machine without the Pulumi CLI, with and without
a container engine, run for real in a scratch copy of the project: make fetches the pinned CLI
from a local stand-in of get.pulumi.com (this machine cannot reach the real one), checks its
checksum and goes on; what it cannot install it names, with the command the user ran.

Everything past the checks is a stand-in too: the stand-in CLI logs its arguments, the
virtualenv's python and curl answer at once.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.paths import REPO_ROOT
from local_stack.pulumi_cli import archive_name, checksums_name, pinned_version, platform_name

VERSION = pinned_version(REPO_ROOT / "requirements.txt")
ARCHIVE = archive_name(VERSION, platform_name())
# The stand-in CLI: logs how it was called, and with which engine.
STANDIN_CLI = f"""#!/bin/sh
echo "pulumi $* DOCKER_HOST=${{DOCKER_HOST:-}}" >> "$PULUMI_LOG"
[ "$1" = version ] && echo v{VERSION}
exit 0
"""
# A podman whose `system service` serves the Docker API's ping on the socket it is given.
STANDIN_PODMAN = """#!/usr/bin/env python3
import socket, sys
path = sys.argv[-1].removeprefix("unix://")
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen()
while True:
    client, _ = server.accept()
    client.recv(1024)
    client.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nOK")
    client.close()
"""
# What `make up` needs of the project, copied: the Makefile, the pins, local_stack/ and program/
# (its tools' parser).
PROJECT_FILES = ("Makefile", "requirements.txt", "requirements-dev.txt", "local_stack", "program")
# Tools a user's machine has (kill is bash's own); fakes are added per test.
SYSTEM_TOOLS = (
    "bash", "sh", "make", "grep", "awk", "python3", "mkdir", "seq", "nohup", "cat", "sleep", "rm",
    "env", "uname",
)  # fmt: skip


def standin_archive(cli: str = STANDIN_CLI) -> bytes:
    """A tar.gz shaped like Pulumi's: pulumi/pulumi and a language host beside it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in (
            ("pulumi/pulumi", cli),
            ("pulumi/pulumi-language-python", "#!/bin/sh\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Downloads:
    """A stand-in for get.pulumi.com/releases/sdk: path -> body, and what was asked for."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def downloads() -> Iterator[Downloads]:
    served = Downloads("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            body = served.files.get(self.path.rsplit("/", 1)[-1])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    served.url = f"http://127.0.0.1:{server.server_port}/releases/sdk"
    archive = standin_archive()
    served.files[ARCHIVE] = archive
    checksum = hashlib.sha256(archive).hexdigest()
    served.files[checksums_name(VERSION)] = (
        f"{'0' * 64}  other.tar.gz\n{checksum}  {ARCHIVE}\n".encode()
    )
    yield served
    server.shutdown()
    server.server_close()


@dataclass
class Machine:
    """A scratch copy of the project and a PATH holding only the given tools."""

    project: Path
    bin: Path
    log: Path

    def tool(self, name: str, script: str) -> None:
        path = self.bin / name
        path.write_text(script)
        path.chmod(0o755)

    def make(self, target: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--no-print-directory", target],
            cwd=self.project,
            env={"PATH": str(self.bin), "HOME": str(self.project), "PULUMI_LOG": str(self.log),
                 **env},
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip

    def pulumi_calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    project = tmp_path / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, project / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in SYSTEM_TOOLS:
        real = shutil.which(name)
        assert real is not None, name
        (bin_dir / name).symlink_to(real)
    # The machine's python3 itself, not a version manager's shim (which needs more of PATH).
    (bin_dir / "python3").unlink()
    (bin_dir / "python3").symlink_to(Path(sys.base_prefix, "bin", "python3"))
    result = Machine(project, bin_dir, tmp_path / "pulumi.log")
    # Past the checks: the virtualenv is there and its python does what it is told at once.
    venv_bin = project / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text("#!/bin/sh\nexit 0\n")
    (venv_bin / "python").chmod(0o755)
    stamp = project / ".venv" / ".runtime-installed"
    stamp.touch()
    os.utime(stamp, ((project / "requirements.txt").stat().st_mtime + 60,) * 2)
    result.tool("curl", "#!/bin/sh\nexit 0\n")  # moto "answers"
    return result


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


DOCKER_ANSWERS = "#!/bin/sh\nexit 0\n"
DOCKER_REFUSED = (
    "#!/bin/sh\necho 'permission denied while trying to connect to the Docker daemon socket at "
    "unix:///var/run/docker.sock' >&2\nexit 1\n"
)


def test_make_up_fetches_the_pinned_cli_checks_it_and_goes_on(
    machine: Machine, downloads: Downloads
) -> None:
    machine.tool("docker", DOCKER_ANSWERS)
    result = machine.make("up", PULUMI_DOWNLOAD_URL=downloads.url)
    assert result.returncode == 0, result.stderr
    cli = machine.project / "build" / "pulumi" / "bin" / "pulumi"
    assert cli.read_text() == STANDIN_CLI
    assert f"installed the Pulumi CLI {VERSION}" in result.stderr
    assert machine.pulumi_calls() == [
        "pulumi stack select --create local DOCKER_HOST=",
        "pulumi up --stack local --yes DOCKER_HOST=",
    ]
    # Its checksum came from Pulumi's checksums file for that version.
    assert downloads.requests == [
        f"/releases/sdk/{checksums_name(VERSION)}",
        f"/releases/sdk/{ARCHIVE}",
    ]
    again = machine.make("up", PULUMI_DOWNLOAD_URL=downloads.url)
    assert again.returncode == 0 and len(downloads.requests) == 2, "fetched once"


def test_a_download_that_does_not_match_its_checksum_installs_nothing(
    machine: Machine, downloads: Downloads
) -> None:
    machine.tool("docker", DOCKER_ANSWERS)
    downloads.files[ARCHIVE] = standin_archive(cli="#!/bin/sh\necho tampered\n")
    line = one_error_line(machine.make("up", PULUMI_DOWNLOAD_URL=downloads.url))
    assert f"{ARCHIVE} does not match its checksum" in line and "nothing was installed" in line
    assert line.endswith("then run 'make up' again.")
    assert not (machine.project / "build" / "pulumi").exists()
    assert [p.name for p in (machine.project / "build").iterdir()] == []
    assert machine.pulumi_calls() == []


def test_a_pinned_checksum_needs_no_checksums_file(machine: Machine, downloads: Downloads) -> None:
    machine.tool("docker", DOCKER_ANSWERS)
    del downloads.files[checksums_name(VERSION)]
    pinned = hashlib.sha256(downloads.files[ARCHIVE]).hexdigest()
    result = machine.make("up", PULUMI_DOWNLOAD_URL=downloads.url, PULUMI_CLI_SHA256=pinned)
    assert result.returncode == 0, result.stderr
    assert downloads.requests == [f"/releases/sdk/{ARCHIVE}"]


@pytest.mark.parametrize("target", ["up", "preview", "down"])
def test_without_the_cli_and_its_download_each_command_names_itself(
    machine: Machine, target: str
) -> None:
    machine.tool("docker", DOCKER_ANSWERS)
    # Nothing listens on port 9 of this machine.
    line = one_error_line(machine.make(target, PULUMI_DOWNLOAD_URL="http://127.0.0.1:9/sdk"))
    assert "the Pulumi CLI is not installed" in line and "cannot download" in line
    assert "https://www.pulumi.com/docs/install/" in line
    assert line.endswith(f"then run 'make {target}' again.")
    assert machine.pulumi_calls() == []


def test_the_users_own_cli_is_used_and_nothing_is_fetched(
    machine: Machine, downloads: Downloads
) -> None:
    machine.tool("docker", DOCKER_ANSWERS)
    machine.tool("pulumi", STANDIN_CLI)
    assert machine.make("up", PULUMI_DOWNLOAD_URL=downloads.url).returncode == 0
    assert downloads.requests == []
    assert not (machine.project / "build" / "pulumi").exists()
    assert len(machine.pulumi_calls()) == 2


def test_a_docker_that_refuses_is_quoted_with_the_fix(machine: Machine) -> None:
    machine.tool("pulumi", STANDIN_CLI)
    machine.tool("docker", DOCKER_REFUSED)
    line = one_error_line(machine.make("preview"))
    assert "`docker info` says: permission denied while trying to connect" in line
    assert "sudo usermod -aG docker $USER" in line
    assert line.endswith("then run 'make preview' again.")
    assert machine.pulumi_calls() == []


def test_without_docker_or_podman_it_names_the_command_that_installs_one(machine: Machine) -> None:
    machine.tool("pulumi", STANDIN_CLI)
    line = one_error_line(machine.make("up"))
    assert "no container engine answers (no docker CLI on PATH)" in line
    assert "podman" in line and line.endswith("then run 'make up' again.")


def test_without_a_docker_engine_podmans_socket_builds_the_image(machine: Machine) -> None:
    machine.tool("pulumi", STANDIN_CLI)
    machine.tool("docker", DOCKER_REFUSED)
    machine.tool("podman", STANDIN_PODMAN)
    try:
        result = machine.make("up")
        assert result.returncode == 0, result.stderr
        socket = machine.project / "build" / "podman" / "podman.sock"
        assert f"podman's Docker-compatible API at unix://{socket}" in result.stderr
        assert "permission denied" in result.stderr, "the reason Docker was not used"
        assert (
            machine.pulumi_calls()[-1]
            == f"pulumi up --stack local --yes DOCKER_HOST=unix://{socket}"
        )
    finally:
        stopped = machine.make("down")
    assert stopped.returncode == 0, stopped.stderr
    assert not (machine.project / "build" / "podman" / "pid").exists()
