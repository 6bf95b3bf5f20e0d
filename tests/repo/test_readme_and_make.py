"""What a new user meets first: the README documents every setting and output and shows the two
commands (what `make up` does without its tools: tests/repo/test_make_up.py)."""

from __future__ import annotations

from pathlib import Path

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
