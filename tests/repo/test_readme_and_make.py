"""What a new user meets first: the README documents every setting and output, and `make up`
without its tools stops at once with a message that says how to get them, having changed nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from program.outputs import OUTPUT_NAMES
from program.schema import with_config_table


def readme(repo_root: Path) -> str:
    return (repo_root / "README.md").read_text()


def test_the_readmes_configuration_table_is_the_one_pulumi_yaml_gives(repo_root: Path) -> None:
    text = readme(repo_root)
    assert with_config_table(text) == text, "run `.venv/bin/python -m program.schema`"
    for key in yaml.safe_load((repo_root / "Pulumi.yaml").read_text())["config"]:
        assert f"| `{key}` |" in text, key


def test_readme_lists_every_output(repo_root: Path) -> None:
    # OUTPUT_NAMES is held to what the program exports by tests/unit/test_program.py.
    for name in OUTPUT_NAMES:
        assert f"| `{name}` |" in readme(repo_root), name


def test_readme_shows_the_two_commands_and_ci_runs_the_test_one(repo_root: Path) -> None:
    text = readme(repo_root)
    assert "`make up`" in text and "`make test`" in text and "pulumi up" in text
    assert "make test" in (repo_root / ".ci" / "run").read_text()


def make_up(
    repo_root: Path, tmp_path: Path, tools: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`make up` with a PATH holding only make's basics and the given fake tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("bash", "make", "grep", "awk", "sh", "python3"):
        real = subprocess.run(["which", name], capture_output=True, text=True, check=False)
        if real.returncode == 0:
            (bin_dir / name).symlink_to(real.stdout.strip())
    for name, script in tools.items():
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{script}\n")
        tool.chmod(0o755)
    env = {**os.environ, "PATH": str(bin_dir)}
    return subprocess.run(
        ["make", "--no-print-directory", "up"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ({}, "the Pulumi CLI is not installed"),
        ({"pulumi": "exit 0"}, "no Docker engine answers"),
        ({"pulumi": "exit 0", "docker": "exit 1"}, "no Docker engine answers"),
    ],
)
def test_make_up_without_its_tools_stops_at_once(
    repo_root: Path, tmp_path: Path, tools: dict[str, str], message: str
) -> None:
    before = {p.name for p in repo_root.iterdir()}
    result = make_up(repo_root, tmp_path, tools)
    assert result.returncode != 0
    assert message in result.stderr
    assert "install" in result.stderr or "start" in result.stderr
    assert {p.name for p in repo_root.iterdir()} == before, "make up left something behind"
