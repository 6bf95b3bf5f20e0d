"""Which stacks a change affects: the decision behind the preview and deploy job matrices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ci_tools.affected_stacks import affected_stacks
from tests.support.imports import absolute_imports

ALL = ["dev", "staging", "prod"]


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["stacks/Pulumi.dev.yaml"], ["dev"]),
        (["stacks/Pulumi.prod.yaml", "stacks/Pulumi.staging.yaml"], ["staging", "prod"]),
        (["stacks/Pulumi.local.yaml"], []),
        (["__main__.py"], ALL),
        (["Pulumi.yaml"], ALL),
        (["requirements.txt"], ALL),
        (["components/compose.py"], ALL),
        (["components/policies/bucket.json"], ALL),
        (["docker/e2b-sandbox/Dockerfile"], ALL),
        (["./components/storage.py"], ALL),
        (["README.md", "docs/ci.md"], []),
        (["tests/unit/ci_tools/test_affected_stacks.py", "ci_tools/stack_outputs.py"], []),
        # The program's pure logic, the mount program the image carries, the image's context.
        (["program/rules.py"], ALL),
        (["s3mount/client.py"], ALL),
        ([".dockerignore"], ALL),
        (["policy/guard/storage.py"], ALL),
        # The backend's files are rendered by the program; the host's own tools are not.
        (["backend_host/render.py"], ALL),
        (["backend_host/host_mount.py", "harness/podman.py", "benchmarks/mount_wan.py"], []),
        ([".github/workflows/deploy.yml"], []),
        (["requirements-dev.txt", "docker/other/Dockerfile"], []),
        (["stacks/README.md", "stacks/Pulumi.dev.yaml.bak", "stacks/old/Pulumi.dev.yaml"], []),
        (["componentsX/a.py", "components.md"], []),
        (["docs/ci.md", "stacks/Pulumi.dev.yaml", "components/compose.py"], ALL),
        ([], []),
        (["", "  "], []),
    ],
)
def test_affected_stacks(paths: list[str], expected: list[str]) -> None:
    assert affected_stacks(paths) == expected


def test_order_is_deployment_order_whatever_the_input_order() -> None:
    paths = ["stacks/Pulumi.prod.yaml", "stacks/Pulumi.dev.yaml", "stacks/Pulumi.staging.yaml"]
    assert affected_stacks(paths) == ALL


def test_command_reads_git_diff_lines_and_prints_a_json_matrix(repo_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ci_tools.affected_stacks"],
        input="docs/ci.md\nstacks/Pulumi.staging.yaml\n",
        capture_output=True,
        text=True,
        cwd=repo_root,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == ["staging"]
    assert result.stdout.count("\n") == 1, "one line, ready for $GITHUB_OUTPUT"


def _backend_host_imports(module: str, repo_root: Path) -> set[str]:
    """The backend_host modules `module` imports, and theirs."""
    modules = absolute_imports(repo_root / "backend_host" / f"{module}.py")
    direct = {m.removeprefix("backend_host.") for m in modules if m.startswith("backend_host.")}
    return direct.union(*(_backend_host_imports(name, repo_root) for name in direct))


def test_what_the_program_imports_from_backend_host_affects_every_stack(repo_root: Path) -> None:
    # The program renders the backend's files with backend_host.render (components/backend.py).
    imported = {"render"} | _backend_host_imports("render", repo_root)
    assert "unit_environment" in imported
    for module in sorted(imported):
        assert affected_stacks([f"backend_host/{module}.py"]) == ALL, module
