"""Pydantic models: what the HTTP API accepts and returns."""
