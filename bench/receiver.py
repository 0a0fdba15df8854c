"""A fast webhook receiver for the benchmark: answers every POST with 204 at once.

    python -m bench.receiver --port 8765

One asyncio process on 127.0.0.1, HTTP/1.1 with keep-alive, no framework: it parses
just enough of a request (the request line, Content-Length, the body) to answer it,
and notes when each POST to /hook arrived (CLOCK_MONOTONIC, which every process on
the machine shares) with its body. Nothing else is done per request, so that it is
never what limits a worker; the bench measures its capacity with wrk and says so.

Control requests, for the bench: `GET /count` (how many hooks arrived), `GET
/records?from=K` (arrival times and bodies from the K-th on, as JSON), `POST /reset`.
"""

import argparse
import asyncio
import json
import time
from urllib.parse import parse_qs, urlsplit

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
MAX_HEAD = 65_536


class Received:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.bodies: list[bytes] = []
        self.connections = 0  # that carried hooks, since the last reset

    def answer_control(self, method: str, target: str) -> bytes:
        url = urlsplit(target)
        if method == "GET" and url.path == "/count":
            return json.dumps({"count": len(self.times), "connections": self.connections}).encode()
        if method == "GET" and url.path == "/records":
            start = int(parse_qs(url.query).get("from", ["0"])[0])
            records = [
                [moment, body.decode("utf-8", "replace")]
                for moment, body in zip(self.times[start:], self.bodies[start:], strict=True)
            ]
            return json.dumps(records).encode()
        if method == "POST" and url.path == "/reset":
            self.times.clear()
            self.bodies.clear()
            self.connections = 0
            return b"{}"
        return b'{"error": "unknown"}'


class Connection(asyncio.Protocol):
    def __init__(self, received: Received) -> None:
        self.received = received
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.hooked = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.hooked = False

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            head = bytes(self.buffer[:end]).split(b"\r\n")
            length = 0
            close = False
            for line in head[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            method, target, _ = head[0].decode("latin-1").split(" ", 2)
            if method == "POST" and target.startswith("/hook"):
                self.received.times.append(time.monotonic())
                self.received.bodies.append(body)
                if not self.hooked:
                    self.hooked = True
                    self.received.connections += 1
                self.transport.write(NO_CONTENT)
            else:
                content = self.received.answer_control(method, target)
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(content), content)
                )
            if close:
                self.transport.close()
                self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int) -> None:
    received = Received()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(received), "127.0.0.1", port, backlog=1024)
    print(f"receiving on http://127.0.0.1:{port}/hook", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receiver", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
