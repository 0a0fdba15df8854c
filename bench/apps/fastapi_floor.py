"""What every FastAPI floor app shares: the project's response models and row shapes.

A floor app serves the read endpoints with FastAPI straight on a raw driver: no ORM,
no layers, no middleware, no dependencies. What it costs over its raw baseline is
what FastAPI's routing, validation and serialisation cost on their own; the
generated service, built on FastAPI, cannot be faster than its floor.
"""

import importlib
import os
from collections.abc import Sequence
from typing import Any

from bench_common import USER_COLUMNS

_package = os.environ.get("BENCH_PACKAGE", "bench_service")
_schemas: Any = importlib.import_module(f"{_package}.schemas.user")
UserRead: Any = _schemas.UserRead
UserPage: Any = _schemas.UserPage
# Query limits as the service declares them, so both validate the same input.
MAX_LIMIT = 100
_FIELDS = [column.strip() for column in USER_COLUMNS.split(",")]


def user(row: Sequence[Any]) -> Any:
    return UserRead.model_validate(dict(zip(_FIELDS, row, strict=False)))


def page(rows: Sequence[Sequence[Any]], total: int, limit: int, offset: int) -> Any:
    return UserPage(items=[user(row) for row in rows], total=total, limit=limit, offset=offset)
