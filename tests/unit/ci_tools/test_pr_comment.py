"""Posting the checked preview: the body holds exactly the checked text, and one comment per
stack is created once and edited after (against a fake of GitHub's API)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ci_tools.pr_comment import BODY_MAX, main, marker, render

PREVIEW = '  ~ aws:s3/bucket:Bucket: (update)\n      ~ tags: "a" => "b"\n```\nnot a fence\n'


class FakeGitHub:
    def __init__(self) -> None:
        self.comments: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Any) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            parsed: dict[str, Any] = json.loads(self.rfile.read(length))
            return parsed

        def do_GET(self) -> None:
            fake.calls.append(("GET", self.path))
            self._reply(200, fake.comments)

        def do_POST(self) -> None:
            fake.calls.append(("POST", self.path))
            fake.comments.append({"id": len(fake.comments) + 1, "body": self._body()["body"]})
            self._reply(201, fake.comments[-1])

        def do_PATCH(self) -> None:
            fake.calls.append(("PATCH", self.path))
            comment_id = int(self.path.rsplit("/", 1)[1])
            fake.comments[comment_id - 1]["body"] = self._body()["body"]
            self._reply(200, fake.comments[comment_id - 1])

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/repo")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    yield fake
    server.shutdown()
    server.server_close()


def test_the_body_is_the_checked_preview_verbatim() -> None:
    body = render("dev", PREVIEW)
    assert body.startswith(marker("dev"))
    assert PREVIEW.rstrip("\n") in body
    assert body.count("````") == 2  # a fence longer than anything in the preview


def test_a_preview_too_long_for_github_is_cut_and_says_so() -> None:
    body = render("dev", "x" * 100_000)
    assert len(body) <= BODY_MAX
    assert "(cut: the whole preview is in the job's log)" in body


def test_one_comment_per_stack_created_once_then_edited(github: FakeGitHub, tmp_path: Path) -> None:
    preview = tmp_path / "preview.txt"
    for text in ("first\n", "second\n"):
        preview.write_text(text)
        assert main(["--stack", "dev", "--preview", str(preview)]) == 0
    assert main(["--stack", "prod", "--preview", str(preview)]) == 0
    assert [c["body"].splitlines()[0] for c in github.comments] == [marker("dev"), marker("prod")]
    assert "second" in github.comments[0]["body"] and "first" not in github.comments[0]["body"]
    assert ("PATCH", "/repos/org/repo/issues/comments/1") in github.calls


def test_outside_a_pull_request_it_says_so(
    github: FakeGitHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(tmp_path / "missing.json"))
    (tmp_path / "p.txt").write_text("x")
    assert main(["--stack", "dev", "--preview", str(tmp_path / "p.txt")]) == 1
    assert "no pull request" in capsys.readouterr().err
    assert github.comments == []


def test_a_github_that_does_not_answer_is_one_line_naming_the_url(
    github: FakeGitHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{port}")
    (tmp_path / "p.txt").write_text("x")
    assert main(["--stack", "dev", "--preview", str(tmp_path / "p.txt")]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: cannot reach GitHub at http://127.0.0.1:{port}: ")
    assert "GITHUB_API_URL" in line
