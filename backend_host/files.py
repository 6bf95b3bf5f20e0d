"""The names of the backend's files and where they go by default: one home for every writer and
reader (the renderers, the bundle, the host mount, the unit)."""

from __future__ import annotations

from pathlib import Path

from s3mount.status import write_atomically

# The dotenv with the key; the override's env_file names it, the bundle writes it (0600).
ENV_FILE_NAME = "e2b-s3.env"
OVERRIDE_FILE_NAME = "docker-compose.s3.yml"
UNIT_FILE_NAME = "e2b-s3-mount.service"
# The mount program as it ships: one executable zipapp (s3mount/build.py).
MOUNT_PROGRAM_NAME = "s3mount.pyz"
# What the backend's code imports to attach sandboxes (per-sandbox storage), as one zipapp too.
SANDBOX_STORAGE_NAME = "sandbox_storage.pyz"
# Without the key, the ARN of the secret that holds it, for the backend host to read with its role.
SECRET_ID_FILE_NAME = "e2b-s3.secret-id"  # noqa: S105 (a file name, not a secret)
# The service the backend waits for: it exits 0 only when the bucket is mounted at the mount dir.
CHECK_SERVICE = "e2b-s3-mount-check"


def default_path(stack: str, file_name: str) -> str:
    """Where a backend file goes by default, relative to the project: build/<stack>/<file>."""
    return f"build/{stack}/{file_name}"


def make_parents(path: Path, mode: int) -> None:
    """Creates the missing parent directories with `mode`, whatever the umask: a 0600 key file
    in a directory everyone may write is not private."""
    missing = [parent for parent in reversed(path.parents) if not parent.exists()]
    for directory in missing:
        directory.mkdir()
        directory.chmod(mode)


def write_file(path: Path, content: str | bytes, mode: int) -> None:
    """Writes `content` with `mode` the mount program's way (a temporary file, then a rename), so
    a reader never sees half a file. Directories it makes are 0700 for a private file, 0755
    otherwise. Raises OSError."""
    make_parents(path, 0o700 if mode & 0o077 == 0 else 0o755)
    write_atomically(path, content, mode)
