"""Baseline: the benchmarked endpoints straight on an asyncpg pool (no ORM, no FastAPI)."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import asyncpg
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
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_password_hash = PasswordHash.recommended()
_hashing_limiter = anyio.CapacityLimiter(os.cpu_count() or 1)
_pool: asyncpg.Pool | None = None


def pool() -> asyncpg.Pool:
    assert _pool is not None
    return _pool


async def live(_: Request) -> Response:
    return respond({"status": "ok"})


async def current_caller(connection: asyncpg.Connection, claims: Claims) -> Any:
    """The caller's row (one indexed query), if it still honours the token."""
    caller = await connection.fetchrow(CALLER.format("$1"), claims.user_id)
    return caller if is_current(caller, claims) else None


async def fetch_page(
    connection: asyncpg.Connection | asyncpg.Pool, limit: int, offset: int
) -> tuple[list[Any], int]:
    """A page of users, newest first, and how many there are in all."""
    rows = await connection.fetch(LIST_PAGE.format("$1", "$2"), limit, offset)
    # Past the last page no row carries the total.
    return rows, rows[0]["total"] if rows else await connection.fetchval(COUNT)


async def read_user(request: Request) -> Response:
    """The user themself (or any user, for a superuser), by the bearer token."""
    user_id = parse_id(request.path_params["user_id"])
    if user_id is None:
        return respond({"detail": "bad id"}, 422)
    # The token first: no pooled connection waits on checking it.
    claims = bearer_claims(request.headers.get("authorization"))
    if claims is None:
        return not_authenticated()
    async with pool().acquire() as connection:
        caller = await current_caller(connection, claims)
        if caller is None:
            return not_authenticated()
        if caller["id"] == user_id:
            row = caller  # the user themself: served from the caller's row
        elif not caller[IS_SUPERUSER]:
            return respond(FORBIDDEN, 403)
        else:
            row = await connection.fetchrow(READ_ONE.format("$1"), user_id)
    return user_response(row)


async def list_users(request: Request) -> Response:
    """A page of users, for a superuser: the caller's row, then the page."""
    limit, offset = paging(request)
    claims = bearer_claims(request.headers.get("authorization"))
    if claims is None:
        return not_authenticated()
    async with pool().acquire() as connection:
        caller = await current_caller(connection, claims)
        if caller is None:
            return not_authenticated()
        if not caller[IS_SUPERUSER]:
            return respond(FORBIDDEN, 403)
        rows, total = await fetch_page(connection, limit, offset)
    return page_response(rows, total, limit, offset)


# A project from before authentication: the reads as it served them, open to all.
async def read_user_open(request: Request) -> Response:
    user_id = parse_id(request.path_params["user_id"])
    if user_id is None:
        return respond({"detail": "bad id"}, 422)
    row = await pool().fetchrow(READ_ONE.format("$1"), user_id)
    return user_response(row)


async def list_users_open(request: Request) -> Response:
    limit, offset = paging(request)
    rows, total = await fetch_page(pool(), limit, offset)
    return page_response(rows, total, limit, offset)


async def create_user(request: Request) -> Response:
    data = await request.json()
    hashed = await anyio.to_thread.run_sync(
        _password_hash.hash, data["password"], limiter=_hashing_limiter
    )
    arguments = (uuid.uuid4(), data["email"], data.get("full_name"), hashed)
    try:
        row = await pool().fetchrow(INSERT.format("$1", "$2", "$3", "$4"), *arguments)
    except asyncpg.UniqueViolationError:
        return respond({"detail": "A user with this email already exists"}, 409)
    return respond(user_json(row), 201)


async def wait(_: Request) -> Response:
    await pool().execute(WAIT)
    return respond({"status": "ok"})


async def api(_: Request) -> Response:
    await asyncio.sleep(API_SECONDS)
    return respond({"status": "ok"})


async def cpu(_: Request) -> Response:
    return respond({"result": burn_cpu()})


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    global _pool
    size = pool_max_size()
    _pool = await asyncpg.create_pool(plain_dsn(), min_size=size, max_size=size)
    yield
    await _pool.close()


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
