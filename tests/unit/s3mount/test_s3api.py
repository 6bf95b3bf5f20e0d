"""The standard-library S3 client (s3mount/s3api.py): what reaches the caller when S3 does not
answer as S3."""

from __future__ import annotations

import http.client
import urllib.request

import pytest

from s3mount.s3api import Credentials, S3Error, request

CREDENTIALS = Credentials("AKIDEXAMPLE", "secret-example")


def test_an_answer_that_is_no_http_response_is_an_s3_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What a server overwhelmed mid-answer sent the publisher once: a page, no status line.
    def garbled(*_args: object, **_kwargs: object) -> None:
        raise http.client.BadStatusLine("<!DOCTYPE HTML>")

    monkeypatch.setattr(urllib.request, "urlopen", garbled)
    with pytest.raises(S3Error, match="broken answer"):
        request("PUT", "http://127.0.0.1:9/b/k", "us-east-1", CREDENTIALS, body=b"x")
