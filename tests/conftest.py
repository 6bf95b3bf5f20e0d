"""What every test layer shares: where the project is. Each layer's own fixtures are in its
conftest.py: tests/unit needs only the runtime and dev requirements (no moto, no root)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
