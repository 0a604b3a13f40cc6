"""Create tables for stored media objects and their links to events.

Revision ID: 0004_media
Revises: 0003_conferences
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_media"
down_revision = "0003_conferences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_objects",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("camera_id", sa.String(63), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name="fk_media_objects_camera_id_cameras", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sha256", name="pk_media_objects"),
    )
    op.create_table(
        "event_media",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("camera_id", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name="fk_event_media_camera_id_cameras", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_event_media"),
        sa.UniqueConstraint("event_id", "kind", "sha256", name="uq_event_media_event_kind_sha256"),
    )
    op.create_index("ix_event_media_event_id", "event_media", ["event_id"])
    op.create_index("ix_event_media_sha256", "event_media", ["sha256"])
    op.create_index("ix_event_media_camera_uploaded", "event_media", ["camera_id", "uploaded_at"])


def downgrade() -> None:
    op.drop_table("event_media")
    op.drop_table("media_objects")
