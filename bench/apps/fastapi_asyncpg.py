"""Floor: the read endpoints in FastAPI on the raw asyncpg pool (see fastapi_floor)."""

from typing import Annotated
from uuid import UUID

import raw_asyncpg
from bench_common import COUNT, LIST_PAGE, READ_ONE
from fastapi import FastAPI, HTTPException, Query
from fastapi_floor import MAX_LIMIT, UserPage, UserRead, page, user

app = FastAPI(lifespan=raw_asyncpg.lifespan)


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/v1/users/{user_id}")
async def read_user(user_id: UUID) -> UserRead:
    row = await raw_asyncpg.pool().fetchrow(READ_ONE.format("$1"), user_id)
    if row is None:
        raise HTTPException(404, "User not found")
    return user(row)


@app.get("/api/v1/users")
async def list_users(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserPage:
    pool = raw_asyncpg.pool()
    rows = await pool.fetch(LIST_PAGE.format("$1", "$2"), limit, offset)
    total = rows[0][6] if rows else await pool.fetchval(COUNT)
    return page(rows, total, limit, offset)
