"""The status file: for everyone to read, replaced atomically (s3mount/status.py)."""

from __future__ import annotations

import json
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
