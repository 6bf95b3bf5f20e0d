"""The S3 requests in a client's byte stream: where each begins, and what kind it is.

The WAN proxy feeds every byte a client sends through a `RequestReader` and counts each request by
`request_kind`: the counts the benchmarks report as requests per operation rest on this module.
Only the request line, the headers and the body's length are read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, urlsplit


def request_kind(method: str, target: str, headers: Mapping[str, str]) -> str:
    """A short name for an S3 request: the method and what it acts on (`GET list`, `PUT part`).

    S3's path-style requests are /bucket or /bucket/key; the query names the sub-resource. A PUT
    with a copy source is a server-side copy (`PUT copy`: a rename's first half, or a metadata
    change such as chmod rewriting the object onto itself).
    """
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    has_key = parts.path.strip("/").count("/") >= 1
    if "uploadId" in query:
        subject = "part" if "partNumber" in query else "multipart"
    elif "uploads" in query:
        subject = "multipart"
    elif "delete" in query:
        subject = "delete"  # DeleteObjects: many keys in one request
    elif not has_key:
        subject = "list" if method == "GET" else "bucket"
    elif method == "PUT" and "x-amz-copy-source" in headers:
        subject = "copy"
    else:
        subject = "object"
    return f"{method} {subject}"


class RequestReader:
    """Follows the HTTP/1.1 requests in one client-to-server byte stream.

    Feed it the bytes as they pass; it calls `on_request(method, target, headers)` once a
    request's head is complete (header names in lower case) and skips its body (Content-Length or
    chunked), so keep-alive streams count right.
    """

    def __init__(self, on_request: Callable[[str, str, Mapping[str, str]], None]) -> None:
        self._on_request = on_request
        self._buffer = b""
        self._body_left = 0
        self._chunked = False

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while self._step():
            pass

    def _step(self) -> bool:
        if self._body_left:
            taken = min(self._body_left, len(self._buffer))
            self._buffer = self._buffer[taken:]
            self._body_left -= taken
            return bool(self._buffer) and not self._body_left
        if self._chunked:
            return self._chunk_step()
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = self._buffer[:end].decode("latin-1").split("\r\n")
        self._buffer = self._buffer[end + 4 :]
        method, target = [*head[0].split(" "), "", ""][:2]
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head[1:])
        }
        self._on_request(method, target, headers)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = True
        else:
            self._body_left = int(headers.get("content-length", "0") or 0)
        return True

    def _chunk_step(self) -> bool:
        line_end = self._buffer.find(b"\r\n")
        if line_end < 0:
            return False
        size = int(self._buffer[:line_end].split(b";")[0] or b"0", 16)
        if size == 0:
            # The last chunk, then optional trailers and an empty line.
            trailer_end = self._buffer.find(b"\r\n\r\n", line_end)
            if trailer_end < 0:
                return False
            self._buffer = self._buffer[trailer_end + 4 :]
            self._chunked = False
            return True
        if len(self._buffer) < line_end + 2 + size + 2:
            return False
        self._buffer = self._buffer[line_end + 2 + size + 2 :]
        return True
