"""Superusers, token revocation by password version, and failed-login throttling.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column(
            "is_superuser", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
    )
    op.add_column(
        "users",
        sa.Column("password_version", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account", sa.String(length=320), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column(
            "failed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.clock_timestamp(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(
        "ix_login_failures_account_failed_at",
        "login_failures",
        ["account", "failed_at"],
    )
    op.create_index(
        "ix_login_failures_address_failed_at",
        "login_failures",
        ["address", "failed_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_login_failures_address_failed_at", table_name="login_failures")
    op.drop_index("ix_login_failures_account_failed_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_column("users", "password_version")
    op.drop_column("users", "is_superuser")
