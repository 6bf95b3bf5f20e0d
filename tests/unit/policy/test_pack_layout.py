"""The pack stands on its own: it imports nothing of the program (a regression in the program's
rules cannot weaken the guard that checks them), and it runs in the project's one virtualenv,
where the exact pulumi-policy its wire relies on is installed."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.support.imports import absolute_imports


def test_the_pack_imports_nothing_of_the_program(repo_root: Path) -> None:
    # Every package of the repository but the pack, as it stands (tests and harness included).
    program_packages = {p.parent.name for p in repo_root.glob("*/__init__.py")} - {"policy"}
    sources = sorted((repo_root / "policy").rglob("*.py"))
    assert len(sources) >= 5
    for source in sources:
        imported = {name.split(".")[0] for name in absolute_imports(source)}
        assert imported & program_packages == set(), source


def test_the_pack_runs_in_the_projects_virtualenv_with_its_pinned_sdk(repo_root: Path) -> None:
    pack = yaml.safe_load((repo_root / "policy" / "PulumiPolicy.yaml").read_text())
    project = yaml.safe_load((repo_root / "Pulumi.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    venv = (repo_root / "policy" / pack["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == (repo_root / project["runtime"]["options"]["virtualenv"]).resolve()
    requirements = (repo_root / "requirements.txt").read_text()
    assert re.search(r"^pulumi-policy==\d+\.\d+\.\d+$", requirements, re.MULTILINE)
