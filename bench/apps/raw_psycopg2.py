"""Baseline: the benchmarked endpoints on psycopg2, in Starlette's thread pool.

Plain `def` endpoints run in AnyIO's worker threads (40 by default); each takes a
connection from a blocking pool of the same size as the services' pools. Connections
are in autocommit mode: one statement, one round trip.
"""

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
    AUTH,
    CALLER,
    COUNT,
    FORBIDDEN,
    INSERT,
    IS_SUPERUSER,
    LIST_PAGE,
    READ_ONE,
    WAIT,
    Claims,
    bearer_claims,
    burn_cpu,
    is_current,
    parse_id,
    plain_dsn,
    pool_max_size,
    user_json,
)
from pwdlib import PasswordHash
from raw_common import not_authenticated, page_response, paging, respond, user_response
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


def live(_: Request) -> Response:
    return respond({"status": "ok"})


def current_caller(cursor: Any, claims: Claims) -> Any:
    """The caller's row (one indexed query), if it still honours the token."""
    cursor.execute(CALLER.format("%s"), (claims.user_id,))
    caller = cursor.fetchone()
    return caller if is_current(caller, claims) else None


def fetch_page(cursor: Any, limit: int, offset: int) -> tuple[list[Any], int]:
    """A page of users, newest first, and how many there are in all."""
    cursor.execute(LIST_PAGE.format("%s", "%s"), (limit, offset))
    rows = cursor.fetchall()
    if rows:
        return rows, rows[0][-1]
    cursor.execute(COUNT)  # past the last page: no row carries the total
    return rows, cursor.fetchone()[0]


def read_user(request: Request) -> Response:
    """The user themself (or any user, for a superuser), by the bearer token."""
    user_id = parse_id(request.path_params["user_id"])
    if user_id is None:
        return respond({"detail": "bad id"}, 422)
    # The token first: no pooled connection waits on checking it.
    claims = bearer_claims(request.headers.get("authorization"))
    if claims is None:
        return not_authenticated()
    with pool().cursor() as cursor:
        caller = current_caller(cursor, claims)
        if caller is None:
            return not_authenticated()
        if caller[0] == user_id:
            row = caller  # the user themself: served from the caller's row
        elif not caller[IS_SUPERUSER]:
            return respond(FORBIDDEN, 403)
        else:
            cursor.execute(READ_ONE.format("%s"), (user_id,))
            row = cursor.fetchone()
    return user_response(row)


def list_users(request: Request) -> Response:
    """A page of users, for a superuser: the caller's row, then the page."""
    limit, offset = paging(request)
    claims = bearer_claims(request.headers.get("authorization"))
    if claims is None:
        return not_authenticated()
    with pool().cursor() as cursor:
        caller = current_caller(cursor, claims)
        if caller is None:
            return not_authenticated()
        if not caller[IS_SUPERUSER]:
            return respond(FORBIDDEN, 403)
        rows, total = fetch_page(cursor, limit, offset)
    return page_response(rows, total, limit, offset)


# A project from before authentication: the reads as it served them, open to all.
def read_user_open(request: Request) -> Response:
    user_id = parse_id(request.path_params["user_id"])
    if user_id is None:
        return respond({"detail": "bad id"}, 422)
    with pool().cursor() as cursor:
        cursor.execute(READ_ONE.format("%s"), (user_id,))
        row = cursor.fetchone()
    return user_response(row)


def list_users_open(request: Request) -> Response:
    limit, offset = paging(request)
    with pool().cursor() as cursor:
        rows, total = fetch_page(cursor, limit, offset)
    return page_response(rows, total, limit, offset)


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
        Route("/api/v1/users/{user_id}", read_user if AUTH else read_user_open),
        Route("/api/v1/users", list_users if AUTH else list_users_open, methods=["GET"]),
        Route("/api/v1/users", create_user, methods=["POST"]),
        Route("/bench/wait", wait),
        Route("/bench/api", api),
        Route("/bench/cpu", cpu),
    ],
    lifespan=lifespan,
)
