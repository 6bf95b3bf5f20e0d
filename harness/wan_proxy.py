"""A TCP proxy that puts a wide-area network between S3 clients and moto, and counts requests.

    python -m harness.wan_proxy --upstream 127.0.0.1:5050 [--latency-ms 20] [--mib-per-s 40]

Sandboxes reach S3 over a WAN, where round trips and per-connection bandwidth decide speed; on
loopback every client looks fast and the CPU decides. Every chunk is held for the one-way latency
before it is delivered, and each connection's direction is paced to the bandwidth cap, so a
client that opens more connections gets more bandwidth, as against S3.

The proxy also reads the HTTP requests that cross it (harness/s3_requests.py), so the S3 requests
an operation costs can be counted where the network is, a figure that does not drift with the
machine's load. And it can play the faults a contract test needs: `down` resets every
connection and refuses new ones (the endpoint stopped), `reject` answers every request with S3's
403 for an unknown key (credentials rejected), `expire` with its 400 for a session whose
credentials expired.

It runs as its own process (the caller's Python threads would otherwise share its GIL) with a
small control endpoint: `GET /stats`, `GET /log` (the requests in order), `POST /reset`,
`POST /mode/{pass,down,reject,expire}`. `WanProxy` starts and drives one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from harness.paths import REPO_ROOT
from harness.ports import free_port, stop, wait_for_port
from harness.s3_requests import RequestReader, request_kind

CHUNK = 64 * 1024
# Requests remembered in order (kind and target) since the last reset, for finding where an
# operation's requests go; older ones are dropped past this many.
LOG_LIMIT = 100_000
# Chunks in flight per direction: about a bandwidth-delay product (40 MiB/s x 20 ms = 0.8 MiB),
# so a sender feels back-pressure as it would from a real socket, not an endless buffer.
QUEUE_CHUNKS = 16
MODES = ("pass", "down", "reject", "expire")
REJECT_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidAccessKeyId</Code>'
    b"<Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>"
)
EXPIRED_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ExpiredToken</Code>'
    b"<Message>The provided token has expired.</Message></Error>"
)
# What each refusing mode answers every request with.
REFUSALS = {"reject": (b"403 Forbidden", REJECT_BODY), "expire": (b"400 Bad Request", EXPIRED_BODY)}


@dataclass
class Shaping:
    latency: float
    """One-way delay in seconds, applied to every chunk in both directions."""
    bytes_per_second: float
    """Per connection and direction; 0 means unlimited."""


class ProxyServer:
    """The asyncio side: the shaped forwarding, the request counts and the fault modes."""

    def __init__(self, upstream: tuple[str, int], shaping: Shaping) -> None:
        self.upstream = upstream
        self.shaping = shaping
        self.mode = "pass"
        self.requests: Counter[str] = Counter()
        self.log: list[str] = []
        self.connections = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._listen: tuple[str, int] = ("127.0.0.1", 0)

    async def start(self, host: str, port: int) -> None:
        self._listen = (host, port)
        self._server = await asyncio.start_server(self._accept, host, port, limit=CHUNK)

    def stats(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "requests": sum(self.requests.values()),
            "byKind": dict(sorted(self.requests.items())),
            "connections": self.connections,
            "bytesUp": self.bytes_up,
            "bytesDown": self.bytes_down,
        }

    def reset(self) -> None:
        self.requests.clear()
        self.log.clear()
        self.connections = 0
        self.bytes_up = self.bytes_down = 0

    async def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        previous, self.mode = self.mode, mode
        # Live connections end with every change: a connection keeps the mode it was opened in.
        for writer in list(self._writers):
            with contextlib.suppress(OSError):
                writer.transport.abort()
        if mode == "down" and self._server is not None:
            # The endpoint is gone: nobody can connect.
            self._server.close()
            self._server = None
        elif previous == "down":
            await self.start(*self._listen)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            if self.mode in REFUSALS:
                await self._refuse_all(reader, writer, *REFUSALS[self.mode])
            else:
                await self._forward(reader, writer)
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(OSError):
                writer.transport.abort()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream, limit=CHUNK)
        except OSError:
            return
        self._writers.add(up_writer)
        requests = RequestReader(self._count)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, requests.feed, upward=True),
                self._pipe(up_reader, writer, None, upward=False),
            )
        finally:
            self._writers.discard(up_writer)
            with contextlib.suppress(OSError):
                up_writer.transport.abort()

    def _count(self, method: str, target: str, headers: Mapping[str, str]) -> None:
        kind = request_kind(method, target, headers)
        self.requests[kind] += 1
        if len(self.log) < LOG_LIMIT:
            self.log.append(f"{kind} {target}")

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        observe: Callable[[bytes], None] | None,
        upward: bool,
    ) -> None:
        """Delivers each chunk one latency after it arrived, paced to the bandwidth cap."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)

        async def receive() -> None:
            try:
                while data := await source.read(CHUNK):
                    if observe is not None:
                        observe(data)
                    await queue.put((time.monotonic() + self.shaping.latency, data))
            except OSError:
                pass
            finally:
                await queue.put((0.0, b""))

        async def deliver() -> None:
            free_at = 0.0
            while True:
                due, data = await queue.get()
                if not data:
                    break
                start = max(due, free_at)
                rate = self.shaping.bytes_per_second
                free_at = start + (len(data) / rate if rate else 0.0)
                delay = free_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sink.write(data)
                if upward:
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
                await sink.drain()
            if sink.can_write_eof():
                sink.write_eof()

        receiving = asyncio.ensure_future(receive())
        try:
            await deliver()
        except OSError:
            pass
        finally:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving
            # One side is done: the other must stop too, or keep-alive connections linger.
            with contextlib.suppress(OSError):
                sink.transport.abort()

    async def _refuse_all(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        status: bytes,
        refusal: bytes,
    ) -> None:
        pending: list[str] = []
        requests = RequestReader(lambda method, _target, _headers: pending.append(method))
        with contextlib.suppress(OSError):
            while data := await reader.read(CHUNK):
                requests.feed(data)
                for method in pending:
                    body = b"" if method == "HEAD" else refusal
                    await asyncio.sleep(self.shaping.latency * 2)
                    writer.write(
                        b"HTTP/1.1 "
                        + status
                        + b"\r\nContent-Type: application/xml\r\n"
                        + f"Content-Length: {len(refusal)}\r\n\r\n".encode()
                        + body
                    )
                    await writer.drain()
                self.requests.update(f"{method} rejected" for method in pending)
                pending.clear()


async def _control(
    proxy: ProxyServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """One request on the control port: GET /stats, GET /log, POST /reset, POST /mode/<mode>."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        method, path = head.decode("latin-1").split(" ")[:2]
        status, body = "200 OK", b""
        if method == "GET" and path == "/stats":
            body = json.dumps(proxy.stats()).encode()
        elif method == "GET" and path == "/log":
            body = json.dumps(proxy.log).encode()
        elif method == "POST" and path == "/reset":
            proxy.reset()
        elif method == "POST" and path.startswith("/mode/") and path[6:] in MODES:
            await proxy.set_mode(path[6:])
        else:
            status = "404 Not Found"
        reply = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(reply.encode() + body)
        await writer.drain()
    finally:
        writer.close()


async def serve(args: argparse.Namespace) -> None:
    host, port = args.upstream.rsplit(":", 1)
    proxy = ProxyServer(
        (host, int(port)), Shaping(args.latency_ms / 1000, args.mib_per_s * 1024 * 1024)
    )
    await proxy.start("127.0.0.1", args.port)
    control = await asyncio.start_server(
        lambda r, w: _control(proxy, r, w), "127.0.0.1", args.control_port
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with control:
        await stop.wait()


class WanProxy:
    """A proxy process in front of an S3 endpoint; a context manager that stops it on exit."""

    def __init__(
        self,
        upstream: str,
        latency_ms: float = 20,
        mib_per_s: float = 40,
        log_path: Path | None = None,
    ) -> None:
        target = urlsplit(upstream)
        self.port = free_port()
        self.control_port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.latency_ms = latency_ms
        self.mib_per_s = mib_per_s
        command = [
            sys.executable,
            "-m",
            "harness.wan_proxy",
            "--upstream",
            f"{target.hostname}:{target.port}",
            "--port",
            str(self.port),
            "--control-port",
            str(self.control_port),
            "--latency-ms",
            str(latency_ms),
            "--mib-per-s",
            str(mib_per_s),
        ]
        log = log_path.open("ab") if log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=log, stderr=log, env={**os.environ, "PYTHONPATH": "."}
        )
        try:
            wait_for_port(self.control_port, self.process)
            wait_for_port(self.port, self.process)
        except BaseException:
            self.stop()
            raise

    def _call(self, method: str, path: str) -> bytes:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.control_port}{path}", method=method
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            body: bytes = response.read()
            return body

    def stats(self) -> dict[str, object]:
        stats: dict[str, object] = json.loads(self._call("GET", "/stats"))
        return stats

    def counts(self) -> tuple[int, dict[str, int]]:
        """The requests since the last reset, and how many of each kind (one read, so the two
        agree)."""
        stats = self.stats()
        kinds = stats["byKind"]
        assert isinstance(kinds, dict)
        return int(str(stats["requests"])), {str(k): int(v) for k, v in kinds.items()}

    def log(self) -> list[str]:
        """The requests since the last reset, in order: `KIND TARGET` each."""
        lines: list[str] = json.loads(self._call("GET", "/log"))
        return lines

    def reset(self) -> None:
        self._call("POST", "/reset")

    def set_mode(self, mode: str) -> None:
        self._call("POST", f"/mode/{mode}")

    def stop(self) -> None:
        stop(self.process)

    def __enter__(self) -> WanProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.wan_proxy")
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the S3 endpoint")
    parser.add_argument("--port", type=int, default=0, help="where clients connect")
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=20, help="one-way delay")
    parser.add_argument(
        "--mib-per-s", type=float, default=40, help="per connection and direction; 0: unlimited"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(serve(parse_args()))
