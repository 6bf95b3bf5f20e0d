"""A minimal S3 client in the standard library: Signature Version 4 over urllib, for the few
requests the mount program makes itself (a prefix's directory marker, the publisher's PUTs) and
nothing more.

It signs with the same credentials s3fs gets, session token included, and talks to AWS
(virtual-hosted addressing) or to an S3-compatible endpoint (path-style, as s3fs is told).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import quote, urlsplit

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# s3fs's own content type for a directory marker.
DIRECTORY_CONTENT_TYPE = "application/x-directory"


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str = ""


class S3Error(Exception):
    """A request S3 refused or that never reached it: the status (0 when unreached) and why."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        super().__init__(reason)


def object_url(bucket: str, key: str, region: str, endpoint: str) -> str:
    """Where an object lives: path-style on an endpoint, virtual-hosted on AWS."""
    path = quote(key, safe="/~")
    if endpoint:
        return f"{endpoint.rstrip('/')}/{bucket}/{path}"
    if "." in bucket:  # a dotted name breaks the wildcard certificate of virtual hosts
        return f"https://s3.{region}.amazonaws.com/{bucket}/{path}"
    return f"https://{bucket}.s3.{region}.amazonaws.com/{path}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(
    method: str,
    url: str,
    region: str,
    credentials: Credentials,
    payload_sha256: str = EMPTY_SHA256,
    extra: dict[str, str] | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, str]:
    """The headers of a SigV4-signed S3 request (no query string)."""
    moment = now or datetime.datetime.now(datetime.UTC)
    stamp, day = moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y%m%d")
    parts = urlsplit(url)
    headers = {
        "host": parts.netloc,
        "x-amz-content-sha256": payload_sha256,
        "x-amz-date": stamp,
        **{name.lower(): value for name, value in (extra or {}).items()},
    }
    if credentials.session_token:
        headers["x-amz-security-token"] = credentials.session_token
    names = sorted(headers)
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            "",
            *(f"{name}:{headers[name].strip()}" for name in names),
            "",
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(f"AWS4{credentials.secret_access_key}".encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


def request(
    method: str,
    url: str,
    region: str,
    credentials: Credentials,
    body: bytes = b"",
    extra: dict[str, str] | None = None,
    timeout: float = 10,
) -> int:
    """One signed request; the HTTP status. Raises S3Error when S3 refuses or is unreachable,
    naming S3's error code (never the credentials)."""
    headers = signed_headers(
        method, url, region, credentials, hashlib.sha256(body).hexdigest(), extra
    )
    # The URL was built from validated settings: an http(s) endpoint or AWS.
    outgoing = urllib.request.Request(  # noqa: S310
        url, data=body if method == "PUT" else None, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(outgoing, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as refused:
        raise _refusal(refused.code, refused.read(2000)) from None
    except (urllib.error.URLError, OSError) as failure:
        raise S3Error(0, str(getattr(failure, "reason", failure))) from None
    except http.client.HTTPException as garbled:  # an answer that is no HTTP response
        raise S3Error(0, f"a broken answer ({type(garbled).__name__})") from None


def put_streamed(
    url: str,
    region: str,
    credentials: Credentials,
    source: BinaryIO,
    size: int,
    extra: dict[str, str] | None = None,
) -> None:
    """One PUT of `size` bytes read from `source` as they are sent (an unsigned payload: the
    body is never held whole in memory). Raises S3Error as `request` does."""
    headers = signed_headers(
        "PUT", url, region, credentials, "UNSIGNED-PAYLOAD",
        {"content-length": str(size), **(extra or {})},
    )  # fmt: skip
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    connection_type = http.client.HTTPSConnection if secure else http.client.HTTPConnection
    connection = connection_type(parts.netloc, timeout=60)
    try:
        connection.request("PUT", parts.path, body=source, headers=headers)
        answer = connection.getresponse()
        text = answer.read(2000)
        if answer.status >= 300:
            raise _refusal(answer.status, text)
    except OSError as failure:
        raise S3Error(0, str(failure)) from None
    except http.client.HTTPException as garbled:
        raise S3Error(0, f"a broken answer ({type(garbled).__name__})") from None
    finally:
        connection.close()


def _refusal(status: int, body: bytes) -> S3Error:
    """S3's refusal, named by the error code in its body."""
    text = body.decode("utf-8", errors="replace")
    code = text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""
    return S3Error(status, code or f"HTTP {status}")


def ensure_directory_marker(
    bucket: str, prefix: str, region: str, endpoint: str, credentials: Credentials
) -> bool:
    """Makes sure `prefix` (ending in '/') exists as s3fs's directory marker; True if it was
    made now."""
    url = object_url(bucket, prefix, region, endpoint)
    try:
        request("HEAD", url, region, credentials)
        return False
    except S3Error as missing:
        if missing.status != 404:
            raise
    request("PUT", url, region, credentials, extra={"content-type": DIRECTORY_CONTENT_TYPE})
    return True
