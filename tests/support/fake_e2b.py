"""A fake of the E2B API endpoints the template SDK calls, on 127.0.0.1, for the template tests.

E2B's API cannot be reached from these machines. This answers what `e2b` 2.x asks for a build
(create the build, start it, poll its status), for reading and for deleting a template, checks
the API key on every request, and records every request for the tests to assert on. The builds
it reports are scripted: `ready` after a number of polls, an `error` with a reason and log lines,
or `building` forever.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "e2b_test_key_0123456789"


@dataclass
class Request:
    method: str
    path: str
    body: Any
    api_key: str | None


@dataclass
class FakeE2B:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    templates: dict[str, str] = field(default_factory=dict)
    """Template id -> name, for the templates that exist."""
    outcome: str = "ready"
    """What every build ends in: ready, error, or building (never ends)."""
    polls_before_outcome: int = 1
    log_lines: list[str] = field(default_factory=lambda: [f"step {n}" for n in range(30)])
    _builds: int = 0

    def made(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "POST" and path == "/v3/templates":
            name = body["name"]
            template_id = next((i for i, n in self.templates.items() if n == name), None)
            template_id = template_id or f"tpl{len(self.templates) + 1:04d}"
            self.templates[template_id] = name
            self._builds += 1
            return 202, {
                "templateID": template_id,
                "buildID": f"build-{self._builds}",
                "public": False,
                "names": [name],
                "tags": [],
                "aliases": [name],
            }
        if match := re.fullmatch(r"/v2/templates/([^/]+)/builds/([^/]+)", path):
            return (202, None) if method == "POST" and match[1] in self.templates else (404, None)
        if match := re.fullmatch(r"/templates/([^/]+)/builds/([^/]+)/status", path.split("?")[0]):
            return 200, self._status(match[1], match[2], path)
        if match := re.fullmatch(r"/templates/([^/?]+)(\?.*)?", path):
            if match[1] not in self.templates:
                return 404, {"code": 404, "message": "template not found"}
            if method == "DELETE":
                del self.templates[match[1]]
                return 204, None
            return 200, {"templateID": match[1], "names": [self.templates[match[1]]], "builds": []}
        return 404, {"code": 404, "message": f"no route {method} {path}"}

    def _status(self, template_id: str, build_id: str, path: str) -> dict[str, Any]:
        polls = len(self.made("GET", rf"/templates/{template_id}/builds/{build_id}/status.*"))
        found = re.search(r"logsOffset=(\d+)", path)
        offset = int(found[1]) if found else 0
        done = polls > self.polls_before_outcome
        status = self.outcome if done else "building"
        lines = self.log_lines[offset:] if done else []
        entries = [
            {"timestamp": "2026-11-29T10:00:00Z", "level": "info", "message": line}
            for line in lines
        ]
        answer: dict[str, Any] = {
            "templateID": template_id,
            "buildID": build_id,
            "status": status,
            "logs": [],
            "logEntries": entries,
        }
        if status == "error":
            answer["reason"] = {"message": "the start command failed", "step": "finalize"}
        return answer


@contextmanager
def fake_e2b() -> Iterator[FakeE2B]:
    fake = FakeE2B()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            fake.requests.append(
                Request(self.command, self.path, body, self.headers.get("X-API-KEY"))
            )
            if self.headers.get("X-API-KEY") != API_KEY:
                status, answer = 401, {"code": 401, "message": "invalid API key"}
            else:
                status, answer = fake.answer(self.command, self.path, body)
            payload = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = do_PATCH = _handle  # noqa: N815 - http.server's names

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output free of request lines."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
