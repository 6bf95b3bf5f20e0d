"""The project's own linters, run as tests so CI fails on a finding: ruff (lint and format), mypy
in strict mode, and shellcheck on every shell script."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(repo_root: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=repo_root, capture_output=True, text=True, check=False, timeout=300
    )


def test_ruff_lint_is_clean(repo_root: Path) -> None:
    result = run(repo_root, str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean(repo_root: Path) -> None:
    result = run(repo_root, str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean(repo_root: Path) -> None:
    # The policy pack's guard is checked through the tests that import it as policy.guard.
    targets = [
        "__main__.py",
        "components",
        "program",
        "s3mount",
        "backend_host",
        "sandbox_storage",
        "ci_tools",
        "local_stack",
        "harness",
        "tests",
        "benchmarks",
    ]
    result = run(repo_root, str(BIN / "mypy"), *targets)
    assert result.returncode == 0, result.stdout + result.stderr


# Every script under .ci/ (CI runs them as root), and the sandbox's start command.
SHELL_SCRIPTS = [
    *sorted(f".ci/{p.name}" for p in (Path(__file__).parents[2] / ".ci").iterdir() if p.is_file()),
    "docker/e2b-sandbox/start-up.sh",
]


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_shell_scripts_are_shellcheck_clean(repo_root: Path, script: str) -> None:
    result = run(repo_root, str(BIN / "shellcheck"), "--severity=style", script)
    assert result.returncode == 0, result.stdout + result.stderr
    # Unset variables are errors in every script: a typo must not expand to "".
    assert re.search(r"^set -[a-z]*u", (repo_root / script).read_text(), re.MULTILINE), script
