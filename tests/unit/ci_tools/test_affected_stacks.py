"""Which stacks a change affects: the decision behind the preview and deploy job matrices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ci_tools.affected_stacks import affected_stacks

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
