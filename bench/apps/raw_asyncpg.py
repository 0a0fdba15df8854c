"""Baseline: the benchmarked endpoints straight on an asyncpg pool (no ORM, no FastAPI)."""

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import asyncpg
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
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_password_hash = PasswordHash.recommended()
_hashing_limiter = anyio.CapacityLimiter(os.cpu_count() or 1)
_pool: asyncpg.Pool | None = None


def pool() -> asyncpg.Pool:
    assert _pool is not None
    return _pool


def respond(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, media_type="application/json")


async def live(_: Request) -> Response:
    return respond({"status": "ok"})


async def read_user(request: Request) -> Response:
    user_id = parse_id(request.path_params["user_id"])
    if user_id is None:
        return respond({"detail": "bad id"}, 422)
    row = await pool().fetchrow(READ_ONE.format("$1"), user_id)
    if row is None:
        return respond({"detail": "User not found"}, 404)
    return respond(user_json(row))


async def list_users(request: Request) -> Response:
    limit = int(request.query_params.get("limit", "50"))
    offset = int(request.query_params.get("offset", "0"))
    rows = await pool().fetch(LIST_PAGE.format("$1", "$2"), limit, offset)
    total = rows[0][6] if rows else await pool().fetchval(COUNT)
    body = {"items": [user_json(row) for row in rows], "total": total}
    return respond(body | {"limit": limit, "offset": offset})


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
        Route("/api/v1/users/{user_id}", read_user),
        Route("/api/v1/users", list_users, methods=["GET"]),
        Route("/api/v1/users", create_user, methods=["POST"]),
        Route("/bench/wait", wait),
        Route("/bench/api", api),
        Route("/bench/cpu", cpu),
    ],
    lifespan=lifespan,
)
