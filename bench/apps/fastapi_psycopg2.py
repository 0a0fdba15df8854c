"""Floor: the read endpoints in FastAPI (`def` routes) on psycopg2 (see fastapi_floor)."""

from typing import Annotated
from uuid import UUID

import raw_psycopg2
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

app = FastAPI(lifespan=raw_psycopg2.lifespan)


@app.get("/health/live")
def live() -> dict[str, str]:
    return {"status": "ok"}


def read_user(user_id: UUID, authorization: Authorization = None) -> UserRead:
    """The user themself (or any user, for a superuser), by the bearer token."""
    claims = bearer_claims(authorization)  # before taking a connection
    if claims is None:
        raise not_authenticated()
    with raw_psycopg2.pool().cursor() as cursor:
        caller = raw_psycopg2.current_caller(cursor, claims)
        if caller is None:
            raise not_authenticated()
        if caller[0] == user_id:
            row = caller  # the user themself: served from the caller's row
        elif not caller[IS_SUPERUSER]:
            raise forbidden()
        else:
            cursor.execute(READ_ONE.format("%s"), (user_id,))
            row = cursor.fetchone()
    if row is None:
        raise HTTPException(404, "User not found")
    return user(row)


def list_users(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    authorization: Authorization = None,
) -> UserPage:
    """A page of users, for a superuser: the caller's row, then the page."""
    claims = bearer_claims(authorization)
    if claims is None:
        raise not_authenticated()
    with raw_psycopg2.pool().cursor() as cursor:
        caller = raw_psycopg2.current_caller(cursor, claims)
        if caller is None:
            raise not_authenticated()
        if not caller[IS_SUPERUSER]:
            raise forbidden()
        rows, total = raw_psycopg2.fetch_page(cursor, limit, offset)
    return page(rows, total, limit, offset)


# A project from before authentication: the reads as it served them, open to all.
def read_user_open(user_id: UUID) -> UserRead:
    with raw_psycopg2.pool().cursor() as cursor:
        cursor.execute(READ_ONE.format("%s"), (user_id,))
        row = cursor.fetchone()
    if row is None:
        raise HTTPException(404, "User not found")
    return user(row)


def list_users_open(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserPage:
    with raw_psycopg2.pool().cursor() as cursor:
        rows, total = raw_psycopg2.fetch_page(cursor, limit, offset)
    return page(rows, total, limit, offset)


app.get("/api/v1/users/{user_id}")(read_user if AUTH else read_user_open)
app.get("/api/v1/users")(list_users if AUTH else list_users_open)
