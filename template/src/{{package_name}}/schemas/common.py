"""Shapes shared by every endpoint."""

from typing import Literal

from pydantic import BaseModel


class ErrorResponse(BaseModel):
    detail: str


class StatusResponse(BaseModel):
    status: Literal["ok"] = "ok"
