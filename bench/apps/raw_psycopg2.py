"""Baseline: the benchmarked endpoints on psycopg2, in Starlette's thread pool.

Plain `def` endpoints run in AnyIO's worker threads (40 by default); each takes a
connection from a blocking pool of the same size as the services' pools. Connections
are in autocommit mode: one statement, one round trip.
"""

import json
import queue
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
from bench_common import (
    API_SECONDS,
    COUNT,
    INSERT,
    LIST_PAGE,
    READ_ONE,
    WAIT,
    burn_cpu,
    parse_id,
    plain_dsn,
    pool_max_size,
    user_json,
)
from pwdlib import PasswordHash
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

psycopg2.extras.register_uuid()
_password_hash = PasswordHash.recommended()


class BlockingPool:
    """A fixed set of connections; a thread waits for a free one (FIFO queue)."""

    def __init__(self, size: int) -> None:
        self._idle: queue.Queue[psycopg2.extensions.connection] = queue.Queue()
        for _ in range(size):
            connection = psycopg2.connect(plain_dsn())
            connection.autocommit = True
            self._idle.put(connection)

    @contextmanager
    def cursor(self) -> Iterator[psycopg2.extensions.cursor]:
        connection = self._idle.get()
        try:
            with connection.cursor() as cursor:
                yield cursor
        finally:
            self._idle.put(connection)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get().close()


_pool: BlockingPool | None = None


def pool() -> BlockingPool:
    assert _pool is not None
    return _pool


def respond(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, media_type="application/json")


def live(_: Request) -> Response:
    return respond({"status": "ok"})


def read_user(request: Request) -> Response:
    user_id = parse_id(request.path_params["user_id"])
    if user_id is None:
        return respond({"detail": "bad id"}, 422)
    with pool().cursor() as cursor:
        cursor.execute(READ_ONE.format("%s"), (user_id,))
        row = cursor.fetchone()
    if row is None:
        return respond({"detail": "User not found"}, 404)
    return respond(user_json(row))


def list_users(request: Request) -> Response:
    limit = int(request.query_params.get("limit", "50"))
    offset = int(request.query_params.get("offset", "0"))
    with pool().cursor() as cursor:
        cursor.execute(LIST_PAGE.format("%s", "%s"), (limit, offset))
        rows = cursor.fetchall()
        if rows:
            total = rows[0][6]
        else:
            cursor.execute(COUNT)
            total = cursor.fetchone()[0]
    body = {"items": [user_json(row) for row in rows], "total": total}
    return respond(body | {"limit": limit, "offset": offset})


async def create_user(request: Request) -> Response:
    # Starlette reads the body on the loop; the rest runs in a worker thread.
    data = await request.json()
    return await run_in_threadpool(_create_user, data)


def _create_user(data: dict[str, Any]) -> Response:
    hashed = _password_hash.hash(data["password"])
    arguments = (uuid.uuid4(), data["email"], data.get("full_name"), hashed)
    try:
        with pool().cursor() as cursor:
            cursor.execute(INSERT.format("%s", "%s", "%s", "%s"), arguments)
            row = cursor.fetchone()
    except psycopg2.errors.UniqueViolation:
        return respond({"detail": "A user with this email already exists"}, 409)
    return respond(user_json(row), 201)


def wait(_: Request) -> Response:
    with pool().cursor() as cursor:
        cursor.execute(WAIT)
    return respond({"status": "ok"})


def api(_: Request) -> Response:
    time.sleep(API_SECONDS)
    return respond({"status": "ok"})


def cpu(_: Request) -> Response:
    return respond({"result": burn_cpu()})


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    global _pool
    _pool = BlockingPool(pool_max_size())
    yield
    _pool.close()


app = Starlette(
    routes=[
        Route("/health/live", live),
        Route("/api/v1/users/{user_id}", read_user),
        Route("/api/v1/users", list_users, methods=["GET"]),
        Route("/api/v1/users", create_user, methods=["POST"]),
        Route("/bench/wait", wait),
        Route("/bench/api", api),
        Route("/bench/cpu", cpu),
    ],
    lifespan=lifespan,
)
