"""What every benchmarked app shares: the SQL it runs, the CPU work, the JSON shape.

These modules run inside a rendered project's virtualenv (uvicorn --app-dir bench/apps),
so they import only what the generated projects install.
"""

import os
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

try:
    import jwt
except ImportError:  # a project from before the authentication issue has no PyJWT
    jwt = None

# Whether the project under test authenticates its reads (the bench says so): with
# it, every app checks the caller's bearer token and looks the caller up, as the
# service does; without it (a --ref from before), none does. Auth in all or none.
AUTH = os.environ.get("BENCH_AUTH", "1") == "1"
# The key the bench gives every app and mints the tokens with; the service's check.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
TOKEN_ALGORITHM = "HS256"
TOKEN_CLAIMS = ["sub", "ver", "iat", "exp"]

# The same rows and columns the service's UserRead returns.
if AUTH:
    USER_COLUMNS = "id, email, full_name, is_active, is_superuser, created_at, updated_at"
else:
    USER_COLUMNS = "id, email, full_name, is_active, created_at, updated_at"
USER_FIELDS = [column.strip() for column in USER_COLUMNS.split(",")]
READ_ONE = f"SELECT {USER_COLUMNS} FROM users WHERE id = {{}}"
# The caller of a request, by its token's subject: the service's one indexed query
# per authenticated request. A user reading themself is served from this row.
CALLER = f"SELECT {USER_COLUMNS}, password_version FROM users WHERE id = {{}}"
IS_ACTIVE = USER_FIELDS.index("is_active")
IS_SUPERUSER = USER_FIELDS.index("is_superuser") if AUTH else -1
PASSWORD_VERSION = len(USER_FIELDS)
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
NOT_AUTHENTICATED = {"detail": "Invalid or expired token"}
FORBIDDEN = {"detail": "Not allowed"}
# What a 401 says, as the service does (RFC 6750).
CHALLENGE = {"WWW-Authenticate": "Bearer"}


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
    # zip stops at the user's columns: a caller row's password_version, a page
    # row's total, are not shown.
    body = dict(zip(USER_FIELDS, row, strict=False))
    body["id"] = str(body["id"])
    body["created_at"] = _iso(body["created_at"])
    body["updated_at"] = _iso(body["updated_at"])
    return body


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def parse_id(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


class Claims(NamedTuple):
    user_id: UUID
    password_version: int


def bearer_claims(authorization: str | None) -> Claims | None:
    """The claims of an `Authorization: Bearer` token signed with our key, unexpired.

    The service's check (PyJWT, HS256 only, every claim required); None for a
    missing, malformed, expired or wrongly signed token.
    """
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        payload = jwt.decode(
            token, SECRET_KEY, algorithms=[TOKEN_ALGORITHM], options={"require": TOKEN_CLAIMS}
        )
        return Claims(UUID(payload["sub"]), int(payload["ver"]))
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None


def is_current(caller: Any, claims: Claims) -> bool:
    """Whether the caller's row still honours the token: active, password unchanged."""
    return (
        caller is not None
        and caller[IS_ACTIVE]
        and caller[PASSWORD_VERSION] == claims.password_version
    )
