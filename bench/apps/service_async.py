"""The generated async service, plus bench-only routes written in its style.

The routes exist only in this module: the generated project's API and OpenAPI document
never contain them.
"""

import importlib
import os
from typing import Any

import anyio
from bench_common import API_SECONDS, WAIT, burn_cpu
from fastapi import APIRouter
from sqlalchemy import text

_package = os.environ.get("BENCH_PACKAGE", "bench_service")
create_app = importlib.import_module(f"{_package}.main").create_app
SessionDep: Any = importlib.import_module(f"{_package}.api.dependencies").SessionDep
# The generated README's rule: CPU-heavy work goes to a worker thread, with a limiter.
_cpu_limiter = anyio.CapacityLimiter(os.cpu_count() or 1)

router = APIRouter(prefix="/bench", include_in_schema=False)


@router.get("/wait")
async def wait(session: SessionDep) -> dict[str, str]:
    await session.execute(text(WAIT))
    return {"status": "ok"}


@router.get("/api")
async def api() -> dict[str, str]:
    await anyio.sleep(API_SECONDS)  # stands for awaiting an HTTP client
    return {"status": "ok"}


@router.get("/cpu")
async def cpu() -> dict[str, int]:
    return {"result": await anyio.to_thread.run_sync(burn_cpu, limiter=_cpu_limiter)}


app = create_app()
app.include_router(router)
