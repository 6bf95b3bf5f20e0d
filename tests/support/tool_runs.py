"""Running a stack-outputs tool's main() as a user would, in a scratch directory: its saved input,
the files it wrote and their modes."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.sample_outputs import STACK_OUTPUTS

Main = Callable[[list[str]], int]


@pytest.fixture(autouse=True)
def scratch_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test in its own directory, outside GitHub Actions (import it into the test module)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    return tmp_path


def saved(outputs: object, name: str = "outputs.json") -> str:
    """The outputs saved as `pulumi stack output --json` would, in the current directory."""
    Path(name).write_text(json.dumps(outputs))
    return name


def run(main: Main, *args: str, outputs: object = STACK_OUTPUTS) -> int:
    return main(["--stack", "dev", "--input", saved(outputs), *args])


def files_written() -> list[str]:
    """Every file under the current directory but the saved input."""
    return sorted(str(p) for p in Path().rglob("*") if p.is_file() and p.name != "outputs.json")


def mode(path: str) -> int:
    return stat.S_IMODE(Path(path).stat().st_mode)
