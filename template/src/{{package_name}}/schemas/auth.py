"""What logging in returns: an OAuth2 bearer token (RFC 6749, section 5.1)."""

from typing import Literal

from pydantic import BaseModel


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (OAuth2's token type)
    expires_in: int  # seconds
