"""The sandbox image's build, as plain facts and pure functions: its context, its Dockerfile, the
start command's path, and the tag that changes exactly when the image would.

The context is the project's root, so that the image can carry the mount program's package
(s3mount/) as its zipapp; the root's .dockerignore is an allow-list of what the Dockerfile copies.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from docker.utils.build import exclude_paths

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Relative to the project, so that the state is the same on every machine.
CONTEXT = "."
DOCKERFILE = "docker/e2b-sandbox/e2b.Dockerfile"
PLATFORM = "linux/amd64"  # E2B runs templates on x86-64 microVMs.


def _ignore_patterns(context: Path) -> list[str]:
    ignore_file = context / ".dockerignore"
    if not ignore_file.exists():
        return []
    lines = (line.strip() for line in ignore_file.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def sent_files(context: Path, dockerfile: str = DOCKERFILE) -> list[str]:
    """The files a build sends from `context`, by Docker's own .dockerignore rules (docker-py's
    implementation of them: path matching from the context's root, `**`, `!` exceptions,
    a directory excluding what is under it); the Dockerfile is always sent."""
    included = exclude_paths(str(context), _ignore_patterns(context), dockerfile=dockerfile)
    return sorted(path for path in included if (context / path).is_file())


def context_digest(context: Path, dockerfile: str = DOCKERFILE) -> str:
    """SHA-256 over every file the build context sends, in a stable order."""
    digest = hashlib.sha256()
    for relative in sent_files(context, dockerfile):
        digest.update(relative.encode() + b"\0" + (context / relative).read_bytes() + b"\0")
    return digest.hexdigest()


def image_tag(context_sha256: str, *build_inputs: str) -> str:
    """A tag that changes exactly when the image would: the context or a non-secret build input.

    The access key id is among the inputs, so a rotation yields a new tag (ECR tags are
    immutable); the secret itself never is, so the tag reveals nothing.
    """
    digest = hashlib.sha256("\0".join((context_sha256, *build_inputs)).encode()).hexdigest()
    return f"sha-{digest[:16]}"
