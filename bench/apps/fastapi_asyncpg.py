"""Floor: the read endpoints in FastAPI on the raw asyncpg pool (see fastapi_floor)."""

from typing import Annotated
from uuid import UUID

import raw_asyncpg
from bench_common import (
    AUTH,
    IS_SUPERUSER,
    READ_ONE,
    bearer_claims,
)
from fastapi import FastAPI, HTTPException, Query
from fastapi_floor import (
    MAX_LIMIT,
    Authorization,
    UserPage,
    UserRead,
    forbidden,
    not_authenticated,
    page,
    user,
)

app = FastAPI(lifespan=raw_asyncpg.lifespan)


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def read_user(user_id: UUID, authorization: Authorization = None) -> UserRead:
    """The user themself (or any user, for a superuser), by the bearer token."""
    claims = bearer_claims(authorization)  # before taking a connection
    if claims is None:
        raise not_authenticated()
    async with raw_asyncpg.pool().acquire() as connection:
        caller = await raw_asyncpg.current_caller(connection, claims)
        if caller is None:
            raise not_authenticated()
        if caller["id"] == user_id:
            row = caller  # the user themself: served from the caller's row
        elif not caller[IS_SUPERUSER]:
            raise forbidden()
        else:
            row = await connection.fetchrow(READ_ONE.format("$1"), user_id)
    if row is None:
        raise HTTPException(404, "User not found")
    return user(row)


async def list_users(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    authorization: Authorization = None,
) -> UserPage:
    """A page of users, for a superuser: the caller's row, then the page."""
    claims = bearer_claims(authorization)
    if claims is None:
        raise not_authenticated()
    async with raw_asyncpg.pool().acquire() as connection:
        caller = await raw_asyncpg.current_caller(connection, claims)
        if caller is None:
            raise not_authenticated()
        if not caller[IS_SUPERUSER]:
            raise forbidden()
        rows, total = await raw_asyncpg.fetch_page(connection, limit, offset)
    return page(rows, total, limit, offset)


# A project from before authentication: the reads as it served them, open to all.
async def read_user_open(user_id: UUID) -> UserRead:
    row = await raw_asyncpg.pool().fetchrow(READ_ONE.format("$1"), user_id)
    if row is None:
        raise HTTPException(404, "User not found")
    return user(row)


async def list_users_open(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserPage:
    pool = raw_asyncpg.pool()
    rows, total = await raw_asyncpg.fetch_page(pool, limit, offset)
    return page(rows, total, limit, offset)


app.get("/api/v1/users/{user_id}")(read_user if AUTH else read_user_open)
app.get("/api/v1/users")(list_users if AUTH else list_users_open)
