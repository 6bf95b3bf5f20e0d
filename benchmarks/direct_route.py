"""The fastest direct route to a program's end state: boto3 with many requests in flight, as a
program that worked on local disk and then published its outputs would go (the bar a publish call
has to beat). Every route here goes through the same WAN proxy as the mount."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig

from benchmarks.programs import Route

# As many requests in flight as the mount's publisher keeps: the two routes compare like for like.
from s3mount.publisher import IN_FLIGHT

LARGE = 8 * 1024 * 1024
TRANSFER = TransferConfig(
    multipart_threshold=LARGE, multipart_chunksize=LARGE, max_concurrency=IN_FLIGHT
)


def local_files(root: Path) -> list[Path]:
    """Everything under root that is no directory (links to directories are left out), relative
    to it."""
    found = []
    for directory, _subdirectories, files in os.walk(root):
        found += [(Path(directory) / name).relative_to(root) for name in files]
    return sorted(found)


def in_parallel(action: Callable[[str], object], keys: Iterable[str]) -> None:
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        for _ in pool.map(action, keys):
            pass  # map re-raises the first failure here


def upload_tree(s3: Any, bucket: str, root: Path, under: str = "") -> None:
    """Every file below root/under, keyed by its path relative to root."""

    def upload(key: str) -> None:
        path = root / key
        if path.is_symlink():
            s3.put_object(Bucket=bucket, Key=key, Body=str(path.readlink()).encode())
        elif path.stat().st_size > LARGE:
            s3.upload_file(str(path), bucket, key, Config=TRANSFER)
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())

    in_parallel(upload, [str(Path(under) / path) for path in local_files(root / under)])


def keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def download_tree(s3: Any, bucket: str, prefix: str, destination: Path) -> None:
    def download(key: str) -> None:
        path = destination / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    in_parallel(download, keys_under(s3, bucket, prefix))


def delete_tree(s3: Any, bucket: str, prefix: str) -> None:
    keys = keys_under(s3, bucket, prefix)
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def upload_then_download(s3: Any, bucket: str, root: Path) -> None:
    for key in map(str, local_files(root)):
        s3.upload_file(str(root / key), bucket, key, Config=TRANSFER)
        s3.download_fileobj(bucket, key, io.BytesIO(), Config=TRANSFER)


def run_route(route: Route, s3: Any, bucket: str, result: Path, destination: Path) -> None:
    """The route, for the end state `result` (the program's working directory after a local
    run); `destination` receives what a download route fetches."""
    if route is Route.UPLOAD:
        upload_tree(s3, bucket, result)
    elif route is Route.UPLOAD_DOWNLOAD:
        upload_then_download(s3, bucket, result)
    elif route is Route.DELETE:
        delete_tree(s3, bucket, "tree/")
    elif route is Route.LIST:
        keys_under(s3, bucket, "listing/")
    else:
        download_tree(s3, bucket, "tree/", destination)
