"""The WAN proxy's request counts, which the benchmarks report as S3 requests per operation: each
request a real client sends through it is counted once, by the right kind, and no body is taken
for a request."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator

import pytest
from botocore.config import Config

from harness.moto_server import MotoServer
from harness.wan_proxy import WanProxy

PART = 5 * 1024 * 1024  # S3's smallest part but the last


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[WanProxy]:
    with WanProxy(moto_server.endpoint, latency_ms=0, mib_per_s=0) as started:
        yield started


def test_each_s3_call_is_one_request_of_its_kind(
    proxy: WanProxy, moto_server: MotoServer, bucket: str
) -> None:
    s3 = moto_server.client(
        "s3", endpoint_url=proxy.endpoint, config=Config(retries={"max_attempts": 1})
    )
    proxy.reset()
    s3.head_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/one.txt", Body=b"one")
    s3.head_object(Bucket=bucket, Key="a/one.txt")
    source = {"Bucket": bucket, "Key": "a/one.txt"}
    s3.copy_object(Bucket=bucket, Key="a/two.txt", CopySource=source)
    s3.get_object(Bucket=bucket, Key="a/two.txt")["Body"].read()
    s3.list_objects_v2(Bucket=bucket, Prefix="a/")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    parts = [
        {"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload,
                                                 PartNumber=n, Body=b"x" * PART)["ETag"]}
        for n in (1, 2)
    ]  # fmt: skip
    s3.complete_multipart_upload(
        Bucket=bucket, Key="big.bin", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a/one.txt"}]})
    s3.delete_object(Bucket=bucket, Key="a/two.txt")

    assert Counter(proxy.counts()[1]) == Counter({
        "HEAD bucket": 1, "PUT object": 1, "HEAD object": 1, "PUT copy": 1, "GET object": 1,
        "GET list": 1, "POST multipart": 2, "PUT part": 2, "POST delete": 1, "DELETE object": 1,
    })  # fmt: skip
    assert [line.split(" /")[0] for line in proxy.log()][:4] == [
        "HEAD bucket", "PUT object", "HEAD object", "PUT copy",
    ]  # fmt: skip


def test_bodies_are_skipped_whole_on_a_kept_alive_connection(proxy: WanProxy, bucket: str) -> None:
    """Two requests in one write, each body holding what looks like a request: a fixed-length body
    and a chunked one. A reader that lost its place in a body would count more, or fewer."""
    decoy = b"\r\n\r\nGET /decoy HTTP/1.1\r\nHost: x\r\n\r\n"
    fixed = (
        f"PUT /{bucket}/fixed HTTP/1.1\r\nHost: s3\r\nContent-Length: {len(decoy)}\r\n\r\n".encode()
        + decoy
    )
    chunk = f"{len(decoy):x}\r\n".encode() + decoy + b"\r\n"
    chunked = (
        f"PUT /{bucket}/chunked HTTP/1.1\r\nHost: s3\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        + chunk * 2
        + b"0\r\n\r\n"
    )
    listing = f"GET /{bucket}?list-type=2 HTTP/1.1\r\nHost: s3\r\nConnection: close\r\n\r\n"
    proxy.reset()
    port = int(proxy.endpoint.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(fixed + chunked + listing.encode())
        while connection.recv(65536):  # until the server closes after the listing
            pass

    assert Counter(proxy.counts()[1]) == Counter({"PUT object": 2, "GET list": 1})
