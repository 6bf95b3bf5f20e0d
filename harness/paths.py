"""Where the project's parts are, for every test layer and the benchmarks; the mount program as
it ships (its zipapp), built once per process from this checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from program.sandbox_image import DOCKERFILE as DOCKERFILE_IN_PROJECT
from s3mount import build

REPO_ROOT = Path(__file__).resolve().parents[1]
SANDBOX_DIR = REPO_ROOT / "docker" / "e2b-sandbox"
START_UP_SCRIPT = SANDBOX_DIR / "start-up.sh"
DOCKERFILE = REPO_ROOT / DOCKERFILE_IN_PROJECT
# The mount program's zipapp lives alone in this directory (chroots bind it read-only).
MOUNT_PROGRAM_DIR = REPO_ROOT / "build" / "mount-program"


@cache
def mount_program() -> Path:
    """The mount program's zipapp, as the image and the backend's artifact carry it."""
    MOUNT_PROGRAM_DIR.mkdir(parents=True, exist_ok=True)
    return build.build(MOUNT_PROGRAM_DIR / "s3mount.pyz")
