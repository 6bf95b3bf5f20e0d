"""Every command-line entry point of ci_tools/, backend_host/ and local_stack/, run as a user
runs it: with a python3 that has the standard library only (`python3 -m venv --without-pip`, the
backend host's and a CI runner's bare python3), fed the failures a user meets (a missing or
unreadable input, a directory where a file belongs, a path it cannot make, an unknown flag). Each
failure is one line on stderr naming the problem and the fix, with a non-zero exit: never a
traceback.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend_host.render import render_host_mount_unit
from harness.paths import REPO_ROOT
from program.shared import Channel, Consumer, received
from tests.support.sample_outputs import STACK_OUTPUTS

# Another change rewrites the preview guard; its command line is checked by its own tests.
NOT_HERE = {"ci_tools.preview_guard"}
# Fed its failures through make, as users run it: tests/repo/test_make_up.py.
THROUGH_MAKE = {"local_stack.preflight"}


def entry_points() -> list[str]:
    """The modules of ci_tools/, backend_host/ and local_stack/ that run as commands."""
    found = []
    for folder in ("ci_tools", "backend_host", "local_stack"):
        for path in sorted((REPO_ROOT / folder).glob("*.py")):
            if 'if __name__ == "__main__":' in path.read_text():
                found.append(f"{folder}.{path.stem}")
    return found


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A python3 with the standard library only, and nothing of this project's virtualenv."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # Guards every test below: this python must not find the project's packages.
    assert subprocess.run([str(python), "-c", "import yaml"], capture_output=True).returncode
    return python


@dataclass
class Tool:
    python: Path
    cwd: Path

    def __call__(
        self, module: str, *args: str, stdin: int | str | None = None
    ) -> subprocess.CompletedProcess[str]:
        environment = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": str(REPO_ROOT)}
        return subprocess.run(
            [str(self.python), "-m", module, *args],
            cwd=self.cwd, env=environment, capture_output=True, text=True, timeout=60,
            check=False, **({"input": stdin} if isinstance(stdin, str) else {"stdin": stdin}),
        )  # fmt: skip


@pytest.fixture
def tool(bare_python: Path, tmp_path: Path) -> Tool:
    """The tools run in a scratch directory that holds good and bad inputs."""
    Path(tmp_path, "outputs.json").write_text(json.dumps(STACK_OUTPUTS))
    Path(tmp_path, "not-utf8.json").write_bytes(b"\xff\xfe{")
    Path(tmp_path, "a-directory").mkdir()
    Path(tmp_path, "a-file").write_text("x")
    Path(tmp_path, "preview.txt").write_text("+ bucket\n")
    return Tool(bare_python, tmp_path)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


OUTPUTS = ("--stack", "dev", "--input", "outputs.json")
# (module, arguments, what the one line must say): a missing input, an unreadable one, a
# directory where a file belongs, a path that cannot be made.
FAILURES: list[tuple[str, tuple[str, ...], str]] = [
    ("backend_host.bundle", ("--stack", "dev", "--input", "missing.json"), "No such file"),
    ("backend_host.bundle", ("--stack", "dev", "--input", "a-directory"), "Is a directory"),
    ("backend_host.bundle", ("--stack", "dev", "--input", "not-utf8.json"), "not UTF-8"),
    ("backend_host.bundle", (*OUTPUTS, "--format", "env", "--output", "a-directory"),
     "a-directory is a directory"),
    ("backend_host.bundle", (*OUTPUTS, "--output", "a-file/backend"), "Not a directory"),
    ("backend_host.bundle", (*OUTPUTS, "--output", "a-file"), "not a directory"),
    ("ci_tools.stack_outputs", ("--stack", "dev", "--input", "missing.json", "--format", "mask"),
     "No such file"),
    ("ci_tools.stack_outputs", ("--stack", "dev", "--input", "a-directory", "--format", "mask"),
     "Is a directory"),
    ("ci_tools.stack_outputs", (*OUTPUTS, "--format", "json", "--output", "a-directory"),
     "a-directory is a directory"),
    ("ci_tools.stack_outputs", (*OUTPUTS, "--format", "json", "--output", "a-file/x.json"),
     "Not a directory"),
    ("ci_tools.pr_comment", ("--stack", "dev", "--preview", "missing.txt"), "No such file"),
    ("ci_tools.pr_comment", ("--stack", "dev", "--preview", "a-directory"), "Is a directory"),
    ("backend_host.host_mount", ("--stack", "dev", "--input", "missing.json", "--check"),
     "No such file"),
    ("backend_host.host_mount", ("--stack", "dev", "--env-file", "no/such/dir/e2b-s3.env"),
     "no key pair at no/such/dir/e2b-s3.env"),
    ("backend_host.host_mount", ("--stack", "dev", "--env-file", "no/such/dir/e2b-s3.env",
                                 "--unmount"), "no unit at no/such/dir/e2b-s3-mount.service"),
    ("backend_host.host_mount", (*OUTPUTS, "--env-file", "a-directory"),
     "no key pair at a-directory"),
    ("backend_host.host_mount", ("--stack", "dev", "--env-file", "a-directory/x/e2b-s3.env",
                                 "--check"), "no unit at a-directory/x"),
]  # fmt: skip


def test_every_entry_point_is_fed_the_failures() -> None:
    fed = {module for module, _, _ in FAILURES} | {"ci_tools.affected_stacks"} | THROUGH_MAKE
    assert set(entry_points()) == fed | NOT_HERE == set(GOOD_ARGUMENTS) | NOT_HERE


@pytest.mark.parametrize("module", sorted(set(entry_points()) - NOT_HERE))
def test_help_runs_on_a_bare_python3_and_never_waits_for_input(tool: Tool, module: str) -> None:
    # stdin a terminal nobody types at: --help must answer at once.
    _, terminal = pty.openpty()
    result = tool(module, "--help", stdin=terminal)
    os.close(terminal)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python3 -m {module}")


# What each command needs besides a flag it does not know.
GOOD_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "backend_host.bundle": OUTPUTS,
    "backend_host.host_mount": ("--stack", "dev"),
    "ci_tools.affected_stacks": (),
    "ci_tools.pr_comment": ("--stack", "dev", "--preview", "preview.txt"),
    "ci_tools.stack_outputs": (*OUTPUTS, "--format", "mask"),
    "local_stack.preflight": ("--command", "make up"),
}


@pytest.mark.parametrize("module", sorted(GOOD_ARGUMENTS))
def test_an_unknown_flag_is_refused(tool: Tool, module: str) -> None:
    result = tool(module, *GOOD_ARGUMENTS[module], "--bogus", stdin="")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "unrecognized arguments: --bogus" in result.stderr.splitlines()[-1]


@pytest.mark.parametrize(("module", "args", "problem"), FAILURES)
def test_a_bad_input_is_one_line_naming_it(
    tool: Tool, module: str, args: tuple[str, ...], problem: str
) -> None:
    before = sorted(p.name for p in tool.cwd.iterdir())
    line = one_error_line(tool(module, *args, stdin=""))
    assert problem in line
    assert sorted(p.name for p in tool.cwd.iterdir()) == before, "it wrote something"


class TestAffectedStacks:
    def test_a_terminal_on_stdin_is_told_how_to_pipe_the_paths(self, tool: Tool) -> None:
        _, terminal = pty.openpty()
        line = one_error_line(tool("ci_tools.affected_stacks", stdin=terminal))
        os.close(terminal)
        assert "git diff --name-only" in line

    def test_an_unreadable_stdin_is_one_line(self, tool: Tool) -> None:
        # Open for writing only: every read fails (EBADF).
        write_only = os.open(tool.cwd / "a-file", os.O_WRONLY)
        line = one_error_line(tool("ci_tools.affected_stacks", stdin=write_only))
        os.close(write_only)
        assert "cannot read the changed paths" in line

    def test_paths_piped_in_give_the_matrix(self, tool: Tool) -> None:
        result = tool("ci_tools.affected_stacks", stdin="stacks/Pulumi.prod.yaml\n")
        assert json.loads(result.stdout) == ["prod"]


def test_the_backend_hosts_tools_run_on_a_bare_python3_as_the_readme_shows(tool: Tool) -> None:
    """The bundle writes the files; the host mount checks with them, with no key and no Pulumi."""
    mount_dir, run_dir = tool.cwd / "mnt", tool.cwd / "run"
    outputs = {**STACK_OUTPUTS, "s3MountDir": str(mount_dir)}
    settings = received(Consumer.HOST_MOUNT, Channel.SETTINGS, outputs)
    # The real unit, with a run dir of the test's own (the default is /run, root's).
    outputs["hostMountUnit"] = render_host_mount_unit(
        stack="dev",
        settings={**settings, "S3_MOUNT_RUN_DIR": str(run_dir)},
        backend_dir="/srv/backend",
        mount_dir=str(mount_dir),
    )
    Path(tool.cwd, "outputs.json").write_text(json.dumps(outputs))
    backend = tool.cwd / "backend"
    written = tool("backend_host.bundle", *OUTPUTS, "--without-key", "--output", str(backend))
    assert written.returncode == 0, written.stderr
    assert {p.name for p in backend.iterdir()} >= {"e2b-s3-mount.service", "s3mount.pyz"}
    env_file = str(backend / "e2b-s3.env")
    checked = tool("backend_host.host_mount", "--stack", "dev", "--env-file", env_file, "--check")
    assert "Traceback" not in checked.stderr, checked.stderr
    assert checked.returncode == 1, "nothing is mounted there"
    if sys.platform == "linux":  # the mount program reads /proc/self/mountinfo
        assert checked.stdout.strip() == f"{mount_dir}: not mounted", checked.stderr
