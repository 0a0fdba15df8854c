"""The declarative base, with constraint names Alembic can reproduce."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The job queue's tables belong to procrastinate: a migration creates them, and no
# model describes them (autogenerate must not offer to drop them).
JOB_QUEUE_PREFIX = "procrastinate_"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def described_by_models(name: str | None, type_: str, _: object) -> bool:
    """Whether Alembic's autogenerate compares this object with the models."""
    return not (type_ == "table" and (name or "").startswith(JOB_QUEUE_PREFIX))
