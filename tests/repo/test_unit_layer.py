"""The unit layer needs only what requirements-unit.txt installs: no integration helper (moto,
boto3, the harness's servers, chroots and mounts), so `make test-unit` runs without root or an apt
package, wherever Python runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from harness.paths import REPO_ROOT
from tests.support.imports import absolute_imports

INTEGRATION_ONLY = ("moto", "boto3", "botocore")
# The one harness module unit tests may use: where things are, and the zipapp built from s3mount.
HARNESS_FOR_UNITS = "harness.paths"

_BLOCKED_COLLECTION = f"""
import sys
for name in {INTEGRATION_ONLY!r}:
    sys.modules[name] = None  # importing it now fails
import pytest
sys.exit(pytest.main(["tests/unit", "--collect-only", "-q", "-p", "no:cacheprovider"]))
"""


def test_every_unit_test_module_imports_without_moto_or_boto3() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _BLOCKED_COLLECTION],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert re.search(r"^\d{3,} tests collected", result.stdout, re.M), result.stdout[-500:]


def _project_imports(path: Path) -> set[str]:
    return {n for n in absolute_imports(path) if n.split(".")[0] in {"harness", "tests"}}


def _module_file(name: str) -> Path | None:
    base = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_unit_tests_use_no_harness_module_but_paths() -> None:
    seen: set[str] = set()
    pending = list((REPO_ROOT / "tests" / "unit").rglob("*.py"))
    while pending:
        for name in _project_imports(pending.pop()):
            if name not in seen and (found := _module_file(name)) is not None:
                seen.add(name)
                if not name.startswith("harness."):
                    pending.append(found)
    harness = {name for name in seen if name.startswith("harness.")}
    assert harness == {HARNESS_FOR_UNITS}
    assert not any(name.startswith("tests.integration") for name in seen)
