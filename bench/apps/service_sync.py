"""The generated sync service, plus bench-only routes written in its style.

The routes exist only in this module: the generated project's API and OpenAPI document
never contain them.
"""

import importlib
import os
import time
from typing import Any

from bench_common import API_SECONDS, WAIT, burn_cpu
from fastapi import APIRouter
from sqlalchemy import text

_package = os.environ.get("BENCH_PACKAGE", "bench_service")
create_app = importlib.import_module(f"{_package}.main").create_app
SessionDep: Any = importlib.import_module(f"{_package}.api.dependencies").SessionDep

router = APIRouter(prefix="/bench", include_in_schema=False)


@router.get("/wait")
def wait(session: SessionDep) -> dict[str, str]:
    session.execute(text(WAIT))
    return {"status": "ok"}


@router.get("/api")
def api() -> dict[str, str]:
    time.sleep(API_SECONDS)  # stands for a blocking HTTP client call
    return {"status": "ok"}


@router.get("/cpu")
def cpu() -> dict[str, int]:
    return {"result": burn_cpu()}


app = create_app()
app.include_router(router)
