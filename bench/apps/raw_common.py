"""What the two raw Starlette apps share: reading a page request, answering in JSON."""

import json
from typing import Any

from bench_common import CHALLENGE, NOT_AUTHENTICATED, user_json
from starlette.requests import Request
from starlette.responses import Response


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers, media_type="application/json")


def not_authenticated() -> Response:
    return respond(NOT_AUTHENTICATED, 401, CHALLENGE)


def paging(request: Request) -> tuple[int, int]:
    """The page asked for (the load only ever asks for valid ones)."""
    query = request.query_params
    return int(query.get("limit", "50")), int(query.get("offset", "0"))


def user_response(row: Any) -> Response:
    if row is None:
        return respond({"detail": "User not found"}, 404)
    return respond(user_json(row))


def page_response(rows: list[Any], total: int, limit: int, offset: int) -> Response:
    body = {"items": [user_json(row) for row in rows], "total": total}
    return respond(body | {"limit": limit, "offset": offset})
