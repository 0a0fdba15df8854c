"""Responses serialised once, from the models the services return."""

from fastapi import Response, status
from pydantic import BaseModel


def serialised(model: BaseModel, status_code: int = status.HTTP_200_OK) -> Response:
    """The model as the route's JSON response, serialised once.

    Given a model, FastAPI would validate it against the route's `response_model`
    before serialising it (in the sync flavour, on one more trip to a worker
    thread), though services return models they have just validated. Routes declare
    `response_model` for the OpenAPI document and return this.
    """
    return Response(
        model.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
    )
