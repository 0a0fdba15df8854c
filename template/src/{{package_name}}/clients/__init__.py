"""Outbound HTTP to other services: below services, beside repositories."""
