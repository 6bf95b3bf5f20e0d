"""The status file: for everyone to read, replaced atomically (s3mount/status.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from s3mount.status import StatusFile


def test_the_status_replaces_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    status_path = tmp_path / "opt-sentient.json"
    status_path.symlink_to(victim)
    StatusFile(status_path).write({"ok": True})
    assert not status_path.is_symlink()
    assert json.loads(status_path.read_text())["ok"] is True
    assert list(victim.iterdir()) == []
    assert status_path.stat().st_mode & 0o777 == 0o644


def test_the_client_log_is_appended_to_and_root_only(tmp_path: Path) -> None:
    status = StatusFile(tmp_path / "opt-sentient.json")
    status.log_path.write_text("earlier\n")
    status.log_path.chmod(0o644)
    fd = status.open_log()
    with os.fdopen(fd, "ab") as client_log:
        client_log.write(b"later\n")
    assert status.log_path.read_text() == "earlier\nlater\n"
    assert status.log_path.stat().st_mode & 0o777 == 0o600
