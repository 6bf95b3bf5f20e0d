"""A no-op change must preview as no change: two evaluations of the program, in two fresh
processes, declare the same resources with the same inputs for every stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.program import STACKS


def evaluate(repo_root: Path) -> dict[str, list[dict[str, Any]]]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.support.dump_program"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    )
    result: dict[str, list[dict[str, Any]]] = json.loads(completed.stdout)
    return result


def test_two_evaluations_declare_identical_inputs(repo_root: Path) -> None:
    first, second = evaluate(repo_root), evaluate(repo_root)
    assert set(first) == set(STACKS)
    for stack in STACKS:
        before = {(r["type"], r["name"]): r["inputs"] for r in first[stack]}
        after = {(r["type"], r["name"]): r["inputs"] for r in second[stack]}
        assert before.keys() == after.keys(), stack
        assert len(before) >= 15, stack
        for key, inputs in before.items():
            assert inputs == after[key], f"{stack}: {key} differs between two runs"
