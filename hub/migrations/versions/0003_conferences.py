"""Create tables for teleconference rooms, participants and audit.

Revision ID: 0003_conferences
Revises: '0002_complaints'
"""

from __future__ import annotations

revision = "0003_conferences"
down_revision = '0002_complaints'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
