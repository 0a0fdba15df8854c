"""What every benchmarked app shares: the SQL it runs, the CPU work, the JSON shape.

These modules run inside a rendered project's virtualenv (uvicorn --app-dir bench/apps),
so they import only what the generated projects install.
"""

import os
from datetime import datetime
from typing import Any
from uuid import UUID

# The same rows and columns the service's UserRead returns.
USER_COLUMNS = "id, email, full_name, is_active, created_at, updated_at"
READ_ONE = f"SELECT {USER_COLUMNS} FROM users WHERE id = {{}}"
# One round trip: the page and the total, as a window over the whole table.
LIST_PAGE = (
    f"SELECT {USER_COLUMNS}, count(*) OVER () AS total FROM users "
    "ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {}"
)
COUNT = "SELECT count(*) FROM users"
INSERT = (
    "INSERT INTO users (id, email, full_name, hashed_password) "
    f"VALUES ({{}}, {{}}, {{}}, {{}}) RETURNING {USER_COLUMNS}"
)
# The waiting-dominated request: the database answers after 50 ms.
WAIT = "SELECT pg_sleep(0.05)"
# The waiting-dominated request that holds no connection: an HTTP API's latency.
API_SECONDS = 0.05
CPU_ROUNDS = 30_000


def pool_max_size() -> int:
    """Connections per process: the same number the services get (pool + overflow)."""
    return int(os.environ.get("DB_POOL_SIZE", "20")) + int(os.environ.get("DB_MAX_OVERFLOW", "0"))


def plain_dsn() -> str:
    return os.environ["DATABASE_URL"]


def burn_cpu() -> int:
    """Pure-Python work holding the GIL for a few milliseconds, no I/O."""
    total = 0
    for number in range(CPU_ROUNDS):
        total += number * number % 7
    return total


def user_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row[0]),
        "email": row[1],
        "full_name": row[2],
        "is_active": row[3],
        "created_at": _iso(row[4]),
        "updated_at": _iso(row[5]),
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def parse_id(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None
