"""`.ci/run`, CI's entry point, with stand-ins for id, sudo, make and bash: it takes root through
sudo (which must not ask for a password), then runs `make test` on Debian 12 and in a Debian 12
root elsewhere (the real run of both paths: the test workflow, and docs/ci.md)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.paths import REPO_ROOT


def run_ci(
    tmp_path: Path, uid: int, sudo_works: bool
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`.ci/run` with fake tools that log how they were called."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    fakes = {
        "id": f"echo {uid}",
        # `sudo -n true` asks whether sudo would ask for a password.
        "sudo": f'echo "sudo $*" >> {log}; [ "$*" != "-n true" ] || exit {int(not sudo_works)}',
        "make": f'echo "make $*" >> {log}',
        "bash": f'echo "bash $*" >> {log}',
    }
    for name, script in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{script}\n")
        (bin_dir / name).chmod(0o755)
    result = subprocess.run(
        ["/bin/bash", str(REPO_ROOT / ".ci" / "run")],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    return result, log.read_text().splitlines() if log.exists() else []


def test_without_root_or_a_passwordless_sudo_it_says_what_needs_root(tmp_path: Path) -> None:
    result, calls = run_ci(tmp_path, uid=1000, sudo_works=False)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: the whole suite needs root") and "make test-unit" in line
    assert calls == ["sudo -n true"]


def test_without_root_it_runs_itself_again_through_sudo(tmp_path: Path) -> None:
    result, calls = run_ci(tmp_path, uid=1000, sudo_works=True)
    assert result.returncode == 0, result.stderr
    (again,) = calls[1:]
    assert again.startswith("sudo -n --preserve-env=SSL_CERT_FILE,") and again.endswith(
        " bash .ci/run"
    )


def test_as_root_it_runs_make_test_on_debian_12_and_in_a_debian_12_root_elsewhere(
    tmp_path: Path,
) -> None:
    result, calls = run_ci(tmp_path, uid=0, sudo_works=False)
    assert result.returncode == 0, result.stderr
    release = dict(
        line.split("=", 1)
        for line in Path("/etc/os-release").read_text().splitlines()
        if "=" in line
    )
    debian_12 = release.get("ID") == "debian" and release.get("VERSION_ID", "").strip('"') == "12"
    assert calls == (["make test"] if debian_12 else ["bash .ci/debian12-root.sh make test"])
    assert os.access(REPO_ROOT / ".ci" / "run", os.X_OK), "the workflow runs it as a program"
