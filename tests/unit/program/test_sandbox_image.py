"""The sandbox image's build facts: a tag that changes exactly when the image would, and a
context digest over exactly what Docker sends (program/sandbox_image.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from program.sandbox_image import context_digest, image_tag, sent_files


def test_image_tag_is_a_short_hash_of_the_context_and_inputs() -> None:
    tag = image_tag("c" * 64, "settings", "AKIA1")
    assert tag.startswith("sha-") and len(tag) == 20
    assert image_tag("d" * 64, "settings", "AKIA1") != tag


def make_context(root: Path) -> Path:
    context = root / "context"
    context.mkdir()
    (context / "e2b.Dockerfile").write_text("FROM scratch\n")
    (context / ".dockerignore").write_text("# sent: only these\n*\n!start-up.sh\n")
    (context / "start-up.sh").write_text("#!/bin/bash\n")
    (context / "notes.env").write_text("SECRET=1\n")
    return context


def test_context_digest_follows_what_the_build_sends(tmp_path: Path) -> None:
    context = make_context(tmp_path)
    first = context_digest(context, "e2b.Dockerfile")
    assert context_digest(context, "e2b.Dockerfile") == first
    (context / "notes.env").write_text("SECRET=2\n")  # ignored by .dockerignore
    assert context_digest(context, "e2b.Dockerfile") == first
    (context / "start-up.sh").write_text("#!/bin/bash\necho changed\n")
    assert context_digest(context, "e2b.Dockerfile") != first
    second = context_digest(context, "e2b.Dockerfile")
    (context / "e2b.Dockerfile").write_text("FROM scratch\nLABEL x=y\n")
    assert context_digest(context, "e2b.Dockerfile") != second


def test_the_real_context_digest_covers_exactly_what_the_allow_list_sends(repo_root: Path) -> None:
    package = sorted(f"s3mount/{p.name}" for p in (repo_root / "s3mount").glob("*.py"))
    assert sent_files(repo_root) == [
        ".dockerignore",
        "docker/e2b-sandbox/e2b.Dockerfile",
        "docker/e2b-sandbox/requirements.txt",
        "docker/e2b-sandbox/start-up.sh",
        *package,
    ]


@pytest.mark.parametrize(
    ("ignore", "sent"),
    [
        # A pattern matches from the context's root: *.md is the top level's only.
        ("*.md\n", ["Dockerfile", "keep.txt", "sub/deep/c.md", "sub/x.md"]),
        ("**/*.md\n", ["Dockerfile", "keep.txt"]),
        # A directory's name excludes everything under it.
        ("sub\n", ["Dockerfile", "a.md", "keep.txt"]),
        # The last matching line decides; `!` brings a file back.
        ("*\n!sub/x.md\n", ["Dockerfile", "sub/x.md"]),
        ("sub\n!sub/deep\n", ["Dockerfile", "a.md", "keep.txt", "sub/deep/c.md"]),
        ("# a comment\n\n", ["Dockerfile", "a.md", "keep.txt", "sub/deep/c.md", "sub/x.md"]),
    ],
)
def test_the_context_filter_is_dockers_rule(tmp_path: Path, ignore: str, sent: list[str]) -> None:
    for relative in ("Dockerfile", "a.md", "keep.txt", "sub/x.md", "sub/deep/c.md"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(relative)
    (tmp_path / ".dockerignore").write_text(ignore)
    # The .dockerignore and the Dockerfile always reach the builder (Docker's documented rule).
    assert sent_files(tmp_path, "Dockerfile") == [".dockerignore", *sent]
