"""Errors the service expects, and the handlers that turn every error into JSON."""

import logging
from http import HTTPStatus
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly"
INTERNAL_ERROR = "Internal server error"
# SQLSTATE classes meaning "not now" rather than "wrong": connection exception (08),
# insufficient resources (53), operator intervention such as shutdown or a statement
# timeout (57); 55000 is how PostgreSQL refuses connections to a closed database.
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
_UNAVAILABLE_SQLSTATES = frozenset({"55000"})


class ServiceError(Exception):
    """An expected failure the client can act on; each subclass fixes the status."""

    status_code: HTTPStatus = HTTPStatus.BAD_REQUEST

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class NotAuthenticatedError(ServiceError):
    """No valid credentials: the client should log in (RFC 6750's challenge)."""

    status_code = HTTPStatus.UNAUTHORIZED

    def __init__(self, detail: str = "Not authenticated") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class InvalidCredentialsError(NotAuthenticatedError):
    def __init__(self) -> None:
        # The same for an unknown email and a wrong password: no account enumeration.
        super().__init__("Incorrect email or password")


class PermissionDeniedError(ServiceError):
    status_code = HTTPStatus.FORBIDDEN


class InactiveUserError(PermissionDeniedError):
    def __init__(self) -> None:
        super().__init__("This account is deactivated")


class TooManyLoginAttemptsError(ServiceError):
    status_code = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed logins; try again in {retry_after} seconds",
            headers={"Retry-After": str(retry_after)},
        )


class NotFoundError(ServiceError):
    status_code = HTTPStatus.NOT_FOUND


class ConflictError(ServiceError):
    status_code = HTTPStatus.CONFLICT


class ServiceUnavailableError(ServiceError):
    status_code = HTTPStatus.SERVICE_UNAVAILABLE


class DatabaseUnavailableError(ServiceUnavailableError):
    def __init__(self) -> None:
        super().__init__(DATABASE_UNAVAILABLE)


class UserNotFoundError(NotFoundError):
    def __init__(self, user_id: UUID) -> None:
        super().__init__(f"User {user_id} not found")


class EmailAlreadyRegisteredError(ConflictError):
    def __init__(self) -> None:
        super().__init__("A user with this email already exists")


class WebhookNotFoundError(NotFoundError):
    def __init__(self, webhook_id: UUID) -> None:
        super().__init__(f"Webhook {webhook_id} not found")


class UnsafeWebhookURLError(ServiceError):
    """A receiver URL that could reach inside the network (SSRF), or no receiver."""

    status_code = HTTPStatus.UNPROCESSABLE_ENTITY


class ReceiverUnreachableError(ServiceError):
    status_code = HTTPStatus.BAD_GATEWAY


class ReceiverTimeoutError(ServiceError):
    status_code = HTTPStatus.GATEWAY_TIMEOUT


def means_database_unavailable(error: BaseException) -> bool:
    """Whether a database error says "try later" (outage, overload, timeout)."""
    if isinstance(error, OSError | TimeoutError | OperationalError | InterfaceError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = str(getattr(error.orig, "pgcode", None) or "")
    return (
        error.connection_invalidated
        or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)
        or sqlstate in _UNAVAILABLE_SQLSTATES
    )


def internal_error_response() -> JSONResponse:
    return JSONResponse(
        {"detail": INTERNAL_ERROR}, status_code=HTTPStatus.INTERNAL_SERVER_ERROR
    )


def register_error_handlers(app: FastAPI) -> None:
    """Every error leaves as `{"detail": ...}`, without internals.

    Unexpected exceptions are turned into a 500 by the request middleware
    (core/middleware.py), which logs them with the request id.
    """
    # Handlers run on the event loop in both flavours: they only build a response.

    @app.exception_handler(ServiceError)
    async def handle_service_error(_: Request, error: ServiceError) -> JSONResponse:
        return JSONResponse(
            {"detail": error.detail},
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(DBAPIError)
    @app.exception_handler(OSError)
    async def handle_database_error(request: Request, error: Exception) -> JSONResponse:
        if not means_database_unavailable(error):
            logger.error("database error", exc_info=error)
            return internal_error_response()
        logger.warning("database unavailable: %s", type(error).__name__)
        return JSONResponse(
            {"detail": DATABASE_UNAVAILABLE},
            status_code=HTTPStatus.SERVICE_UNAVAILABLE,
        )
