"""A real webhook receiver for tests: an HTTP server on 127.0.0.1 in a thread.

    with running_receiver() as receiver:
        receiver.respond(Answer(status=503), Answer(status=204))
        ...  # send webhooks to receiver.url
        first, second = receiver.wait_for(2)

It records every request and answers from a queue that the test sets. Plain
threads and blocking calls, the same for both flavours: from an async test, wait
with `await anyio.to_thread.run_sync(receiver.wait_for, n)` when the sender runs on
the test's own event loop.
"""

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Bodies are written in pieces of this size, so a client can hang up between them.
WRITE_CHUNK = 65_536
# Statuses whose answers never have a body (RFC 9110).
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one request."""

    status: int = 204
    delay: float = 0.0  # seconds to wait before answering
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class ReceivedRequest:
    headers: dict[str, str]  # names in lower case
    body: bytes
    received_at: float  # time.time()
    path: str = "/hook"
    client_port: int = 0  # the same for requests on one kept-alive connection


class Receiver:
    """What the receiver got, and how it will answer next."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/hook"
        self.requests: list[ReceivedRequest] = []
        # Answers the client stopped reading before their end (it hung up).
        self.hang_ups = 0
        self._answers: list[Answer] = [Answer()]
        # Guards the above; notified at each request and hang-up, for the waits.
        self._changed = threading.Condition()
        self._closing = threading.Event()

    def respond(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order; the last one repeats."""
        with self._changed:
            self._answers = list(answers) or [Answer()]

    def wait_for(self, count: int, timeout: float = 10) -> list[ReceivedRequest]:
        """The first `count` requests, once they arrived; fails after `timeout`."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(
                    f"expected {count} request(s) at {self.url} within {timeout} s, "
                    f"got {len(self.requests)}: {self.requests!r}"
                )
            return self.requests[:count]

    def wait_for_hang_ups(self, count: int, timeout: float = 10) -> None:
        """Until clients hung up on `count` answers before their end."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.hang_ups >= count, timeout):
                raise AssertionError(
                    f"expected {count} answer(s) cut short by the client within "
                    f"{timeout} s, got {self.hang_ups}"
                )

    def _record(self, request: ReceivedRequest) -> Answer:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()
            if len(self._answers) > 1:
                return self._answers.pop(0)
            return self._answers[0]

    def _hung_up(self) -> None:
        with self._changed:
            self.hang_ups += 1
            self._changed.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)  # a free port
        self.receiver = Receiver(self.server_address[1])
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up is part of the tests; anything else is printed.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """End kept-alive connections, so clients see the receiver gone."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with suppress(OSError):  # already closed
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        received = ReceivedRequest(
            headers, body, time.time(), self.path, self.client_address[1]
        )
        answer = receiver._record(received)
        if answer.delay and receiver._closing.wait(answer.delay):
            self.close_connection = True
            return  # the receiver is stopping: no answer
        try:
            self._answer(answer)
        except OSError:  # the client hung up mid-answer
            self.close_connection = True
            receiver._hung_up()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk

    def _answer(self, answer: Answer) -> None:
        self.send_response(answer.status)
        names = {name.lower() for name in answer.headers}
        for name, value in answer.headers.items():
            self.send_header(name, value)
        has_body = answer.status not in _NO_BODY_STATUSES and answer.status >= 200
        if has_body and "content-length" not in names:
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if not has_body:
            return
        view = memoryview(answer.body)
        for start in range(0, len(view), WRITE_CHUNK):
            self.wfile.write(view[start : start + WRITE_CHUNK])


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A receiver listening on a free port of 127.0.0.1 until the block ends."""
    server = _Server()
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="receiver", daemon=True
    )
    thread.start()
    try:
        yield server.receiver
    finally:
        server.receiver._closing.set()  # delayed answers give up
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()
