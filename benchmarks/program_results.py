"""What a program's run left, checked against its local run: the paths and sizes of its files,
on local disk or in the bucket, so a fast wrong answer fails the benchmark."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.direct_route import local_files

# Where the files a program copied out of the mount ($OUT) are listed: no bucket key or local
# path starts with "$OUT/", so a file written to the wrong side cannot match.
COPIED_OUT = "$OUT/"
# A git object's name (its directory and the rest) or a pack's: hashes that differ run to run.
HASH = re.compile(r"\b[0-9a-f]{2}\b|[0-9a-f]{38,}")


def manifest(root: Path, prefix: str = "") -> dict[str, int]:
    return {f"{prefix}{path}": (root / path).lstat().st_size for path in local_files(root)}


def bucket_manifest(s3: Any, bucket: str) -> dict[str, int]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {
        item["Key"]: item["Size"]
        for page in pages
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")  # s3fs's directory markers
    }


def difference(expected: dict[str, int], found: dict[str, int], stable: bool) -> str | None:
    """What the mount run left that the local run did not: paths and sizes, or for a program
    whose names are hashes, the paths with every hash left out."""
    if not stable:
        shapes = [Counter(HASH.sub("#", path) for path in paths) for paths in (expected, found)]
        if shapes[0] == shapes[1]:
            return None
        return f"wrong result: {shapes[0] - shapes[1]} missing, {shapes[1] - shapes[0]} extra"
    missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    resized = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    if not (missing or extra or resized):
        return None
    return f"wrong result: missing {missing[:3]}, extra {extra[:3]}, other sizes {resized[:3]}"
