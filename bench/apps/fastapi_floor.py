"""What every FastAPI floor app shares: the project's response models and row shapes.

A floor app serves the read endpoints with FastAPI straight on a raw driver: no ORM,
no layers, no middleware, no dependencies. What it costs over its raw baseline is
what FastAPI's routing, validation and serialisation cost on their own; the
generated service, built on FastAPI, cannot be faster than its floor. It does the
service's work otherwise, the token check and the caller's lookup included (when
the project has authentication): auth is in both or neither.
"""

import importlib
import os
from collections.abc import Sequence
from typing import Annotated, Any

from bench_common import CHALLENGE, FORBIDDEN, NOT_AUTHENTICATED, USER_FIELDS
from fastapi import Header, HTTPException

_package = os.environ.get("BENCH_PACKAGE", "bench_service")
_schemas: Any = importlib.import_module(f"{_package}.schemas.user")
UserRead: Any = _schemas.UserRead
UserPage: Any = _schemas.UserPage
# Query limits as the service declares them, so both validate the same input.
MAX_LIMIT = 100
# The bearer token's header, read as a plain parameter (the service's
# OAuth2PasswordBearer is a dependency that reads the same header).
Authorization = Annotated[str | None, Header()]


def user(row: Sequence[Any]) -> Any:
    # zip stops at the user's columns: no password_version, no page total.
    return UserRead.model_validate(dict(zip(USER_FIELDS, row, strict=False)))


def page(rows: Sequence[Sequence[Any]], total: int, limit: int, offset: int) -> Any:
    return UserPage(items=[user(row) for row in rows], total=total, limit=limit, offset=offset)


def not_authenticated() -> HTTPException:
    return HTTPException(401, NOT_AUTHENTICATED["detail"], headers=CHALLENGE)


def forbidden() -> HTTPException:
    return HTTPException(403, FORBIDDEN["detail"])
