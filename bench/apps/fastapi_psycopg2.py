"""Floor: the read endpoints in FastAPI (`def` routes) on psycopg2 (see fastapi_floor)."""

from typing import Annotated
from uuid import UUID

import raw_psycopg2
from bench_common import COUNT, LIST_PAGE, READ_ONE
from fastapi import FastAPI, HTTPException, Query
from fastapi_floor import MAX_LIMIT, UserPage, UserRead, page, user

app = FastAPI(lifespan=raw_psycopg2.lifespan)


@app.get("/health/live")
def live() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/v1/users/{user_id}")
def read_user(user_id: UUID) -> UserRead:
    with raw_psycopg2.pool().cursor() as cursor:
        cursor.execute(READ_ONE.format("%s"), (user_id,))
        row = cursor.fetchone()
    if row is None:
        raise HTTPException(404, "User not found")
    return user(row)


@app.get("/api/v1/users")
def list_users(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserPage:
    with raw_psycopg2.pool().cursor() as cursor:
        cursor.execute(LIST_PAGE.format("%s", "%s"), (limit, offset))
        rows = cursor.fetchall()
        if rows:
            total = rows[0][6]
        else:
            cursor.execute(COUNT)
            total = cursor.fetchone()[0]
    return page(rows, total, limit, offset)
