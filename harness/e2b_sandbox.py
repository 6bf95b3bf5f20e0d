"""Playing E2B with podman: its image setup, stand-ins for the servers its template runs, the
start command as E2B runs it, and a sandbox object shaped like e2b's `Sandbox` (sandbox_id,
files.write, commands.run) whose calls are `podman exec`s: what the backend's attach uses."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from harness.bucket_mounts import wait_for
from harness.podman import podman
from s3mount.contract import START_SCRIPT


def in_container(container: str, script: str, user: str = "root") -> str:
    result = podman("exec", "--user", user, container, "sh", "-c", script, check=False)
    assert result.returncode == 0, f"{script!r} as {user}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


# E2B's own image setup (its template build's finalize step) gives the sandbox user sudo and
# leaves root and the user without a password; the start command must undo all of it.
E2B_FINALIZE = textwrap.dedent(
    """
    useradd -m -s /bin/bash user
    echo 'user ALL=(ALL:ALL) NOPASSWD: ALL' >> /etc/sudoers
    usermod -aG sudo user
    passwd -d user && passwd -d root
    """
)
# The mount program as the image's agent code runs it (e2b.Dockerfile puts it there).
MOUNT_PROGRAM = "python3 /usr/lib/e2b-sandbox/s3mount.pyz"
# Stand-ins for Jupyter and the code-interpreter server: they record who they run as, serve
# Jupyter's status so the start command moves on, then wait.
FAKE_SERVERS = textwrap.dedent(
    """
    mkdir -p /srv/jupyter/api /root/.server/.venv/bin /root/.jupyter
    echo '{}' > /srv/jupyter/api/status
    echo 'c = get_config()' > /root/.jupyter/jupyter_server_config.py
    cat > /usr/local/bin/jupyter <<'EOF'
    #!/bin/sh
    { id -u; grep NoNewPrivs /proc/self/status; env; } > /tmp/jupyter-ran
    cd /srv/jupyter && exec python3 -m http.server 8888 --bind 127.0.0.1
    EOF
    cat > /root/.server/.venv/bin/uvicorn <<'EOF'
    #!/bin/sh
    { id -u; pwd; } > /tmp/server-ran
    exec sleep 600
    EOF
    chmod 0755 /usr/local/bin/jupyter /root/.server/.venv/bin/uvicorn
    chmod -R go+rX /root/.server
    """
)
# Every way the sandbox user might reach the key; each must fail or come back without it.
KEY_HUNT = textwrap.dedent(
    """
    cat /etc/e2b-sandbox/credentials.env
    cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline
    cat /run/e2b-s3-mount/*
    cat /root/.jupyter/* /root/.cache/* /tmp/*
    sudo -n cat /etc/e2b-sandbox/credentials.env
    echo | su -c 'cat /etc/e2b-sandbox/credentials.env' root
    cat /home/user/.jupyter/* /home/user/.bash_history
    true
    """
)


def start_as_e2b_does(container: str) -> tuple[list[str], list[str]]:
    """E2B's image setup, then the start command; what Jupyter and the server recorded."""
    in_container(container, E2B_FINALIZE)
    in_container(container, FAKE_SERVERS)
    podman("exec", "--detach", container, START_SCRIPT)
    ran = wait_for(
        lambda: (
            podman("exec", container, "test", "-f", "/tmp/server-ran", check=False).returncode == 0
        ),
        timeout=60,
        interval=0.5,
    )
    assert ran is not None, in_container(container, "cat /tmp/jupyter-ran 2>&1; true")
    jupyter = in_container(container, "cat /tmp/jupyter-ran").splitlines()
    server = in_container(container, "cat /tmp/server-ran").splitlines()
    return jupyter, server


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class PodmanSandbox:
    """A container as e2b's Sandbox: E2B's envd runs these as the given user, here podman does."""

    container: str

    @property
    def sandbox_id(self) -> str:
        return self.container

    @property
    def files(self) -> PodmanSandbox:
        return self

    @property
    def commands(self) -> PodmanSandbox:
        return self

    def write(self, path: str, data: str, user: str = "user") -> None:
        written = podman(
            "exec", "--interactive", "--user", user, self.container,
            "sh", "-c", 'cat > "$1"', "sh", path, check=False, input_text=data,
        )  # fmt: skip
        if written.returncode != 0:
            raise OSError(f"cannot write {path} as {user}: {written.stderr.strip()}")

    def run(self, cmd: str, user: str = "user", timeout: float = 60) -> CommandResult:
        done = podman("exec", "--user", user, self.container, "sh", "-c", cmd, check=False,
                      timeout=timeout)  # fmt: skip
        return CommandResult(done.returncode, done.stdout, done.stderr)
