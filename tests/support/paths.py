"""Where the project's parts are, for every test layer and the benchmarks."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SANDBOX_DIR = REPO_ROOT / "docker" / "e2b-sandbox"
MOUNT_PROGRAM = SANDBOX_DIR / "s3mount.py"
START_UP_SCRIPT = SANDBOX_DIR / "start-up.sh"
DOCKERFILE = SANDBOX_DIR / "e2b.Dockerfile"
