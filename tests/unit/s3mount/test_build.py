"""The mount program ships as one zipapp: the same sources give the same bytes, it runs with a
bare python3, and its watcher starts from the archive itself (s3mount/build.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from s3mount import build, supervise


def test_the_same_sources_give_the_same_bytes(tmp_path: Path) -> None:
    first = build.build(tmp_path / "a.pyz").read_bytes()
    os.utime(build.PACKAGE_DIR / "cli.py")  # a checkout's times must not matter
    second = build.build(tmp_path / "b.pyz").read_bytes()
    assert first == second
    assert first.startswith(b"#!/usr/bin/env python3\n")


def test_it_holds_the_package_and_nothing_else(tmp_path: Path) -> None:
    archive = build.build(tmp_path / "s3mount.pyz")
    with zipfile.ZipFile(archive) as contents:
        names = contents.namelist()
    assert "__main__.py" in names and "s3mount/cli.py" in names
    assert all(name == "__main__.py" or name.startswith("s3mount/") for name in names)
    assert not [name for name in names if "__pycache__" in name]
    assert archive.stat().st_mode & 0o777 == 0o755


def test_it_runs_in_an_isolated_python_without_this_checkout(tmp_path: Path) -> None:
    archive = build.build(tmp_path / "s3mount.pyz")
    result = subprocess.run(
        [sys.executable, "-I", str(archive), "--help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "usage: s3mount" in result.stdout


def test_the_watcher_starts_from_the_archive_or_the_checkout(tmp_path: Path) -> None:
    archive = build.build(tmp_path / "s3mount.pyz")
    probe = "import s3mount.supervise as s; print(s.program_command()[2])"
    from_archive = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(archive)!r}); {probe}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert from_archive.stdout.strip() == str(archive)
    # From a checkout the package runs in place.
    command = supervise.program_command()
    assert command[2] == "-c" and command[-1] == str(build.PACKAGE_DIR.parent)
