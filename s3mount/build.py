"""Builds this package as the one executable file it ships as: a zipapp, the standard library's;
and any other packages the same way (the backend's sandbox_storage carries this one).

    python3 -m s3mount.build OUTPUT      # e.g. the image's /usr/lib/e2b-sandbox/s3mount.pyz

The same sources always give the same bytes (fixed timestamps, sorted entries), so the image layer
and the backend's artifact change only when the program does.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import zipapp
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
INTERPRETER = "/usr/bin/env python3"
# Zip archives cannot date a file before 1980; a day later keeps every time zone inside it.
_FIXED_MTIME = 315_619_200


def build(output: Path, packages: tuple[Path, ...] = (PACKAGE_DIR,)) -> Path:
    """Writes the zipapp of `packages` to `output` (mode 0755) and returns it; the first
    package's __main__.py runs it."""
    with tempfile.TemporaryDirectory(prefix="s3mount-build-") as staging:
        source = Path(staging) / "source"
        for package in packages:
            shutil.copytree(
                package, source / package.name, ignore=shutil.ignore_patterns("__pycache__")
            )
        # The package's own entry point runs the archive (zipapp's generated one carries the
        # time of the build).
        shutil.copy2(packages[0] / "__main__.py", source / "__main__.py")
        for path in source.rglob("*"):
            os.utime(path, (_FIXED_MTIME, _FIXED_MTIME))
        zipapp.create_archive(source, output, interpreter=INTERPRETER)
    output.chmod(0o755)
    return output


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 -m s3mount.build OUTPUT")
    build(Path(sys.argv[1]))
