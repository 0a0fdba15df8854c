"""Errors the service expects, and the handlers that turn every error into JSON."""

import logging
from http import HTTPStatus
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError

logger = logging.getLogger(__name__)


DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly"


class ServiceError(Exception):
    """An expected failure the client can act on; each subclass fixes the status."""

    status_code: HTTPStatus = HTTPStatus.BAD_REQUEST

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


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


def register_error_handlers(app: FastAPI) -> None:
    """Every error leaves as `{"detail": ...}`, without internals."""
    # Handlers run on the event loop in both flavours: they only build a response.

    @app.exception_handler(ServiceError)
    async def handle_service_error(_: Request, error: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": error.detail}, status_code=error.status_code)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(ConnectionError)
    @app.exception_handler(TimeoutError)
    async def handle_database_unavailable(
        request: Request, error: Exception
    ) -> JSONResponse:
        logger.warning(
            "database unavailable during %s %s: %s",
            request.method,
            request.url.path,
            type(error).__name__,
        )
        return JSONResponse(
            {"detail": DATABASE_UNAVAILABLE},
            status_code=HTTPStatus.SERVICE_UNAVAILABLE,
        )

    @app.exception_handler(Exception)
    async def handle_unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception(
            "unhandled error during %s %s", request.method, request.url.path
        )
        return JSONResponse(
            {"detail": "Internal server error"},
            status_code=HTTPStatus.INTERNAL_SERVER_ERROR,
        )
