"""Structured logs: JSON in production, readable lines otherwise, with request ids."""

import json
import logging
from contextvars import ContextVar
from typing import Any, Literal

# Set by the request middleware; log records made while serving a request carry it.
current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "asctime",
    "color_message",  # uvicorn's colourised duplicate of the message
    "message",
}
_HANDLER_NAME = "service"
_READABLE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the `extra=` fields as keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {
            key: value
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ReadableFormatter(logging.Formatter):
    """The readable line, followed by the `extra=` fields as key=value pairs."""

    def __init__(self) -> None:
        super().__init__(_READABLE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {
            key: value
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and key != "request_id"
        }
        return " ".join([line, *(f"{key}={value}" for key, value in extras.items())])


class DropServerDuplicate(logging.Filter):
    """Drop uvicorn's report of an exception the request middleware already logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Exception in ASGI application")


def configure_logging(style: Literal["json", "readable"], level: str) -> None:
    """Route the app's and the server's logs through one handler; safe to repeat."""
    handler = logging.StreamHandler()
    handler.name = _HANDLER_NAME
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if style == "json" else ReadableFormatter())
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.name == _HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    server_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, DropServerDuplicate) for f in server_errors.filters):
        server_errors.addFilter(DropServerDuplicate())
    # The request middleware logs every request, with its id and latency.
    logging.getLogger("uvicorn.access").disabled = True
