"""Create tables for cameras, health samples, events, zones, line counts, users, sessions and commands.

Revision ID: 0001_core
Revises: None
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("source_kind", sa.String(20), nullable=False),
        sa.Column("device_token_hash", sa.String(64), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("state", sa.String(10), nullable=False),
        _ts("state_ts", nullable=True),
        sa.Column("state_reason", sa.String(200), nullable=True),
        _ts("last_seen_at", nullable=True),
        sa.Column("agent_version", sa.String(40), nullable=True),
        sa.Column("clock_synced", sa.Boolean(), nullable=True),
        sa.Column("video_online", sa.Boolean(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("inference_ms", sa.Float(), nullable=True),
        sa.Column("cpu_temp_c", sa.Float(), nullable=True),
        sa.Column("disk_free_bytes", sa.BigInteger(), nullable=True),
        _ts("stats_ts", nullable=True),
        sa.Column("last_snapshot_sha256", sa.String(64), nullable=True),
        sa.Column("last_snapshot_event_id", sa.String(36), nullable=True),
        _ts("last_snapshot_ts", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cameras"),
    )
    op.create_table(
        "camera_health_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(63), nullable=False),
        _ts("ts"),
        _ts("received_at"),
        sa.Column("clock_synced", sa.Boolean(), nullable=False),
        sa.Column("video_online", sa.Boolean(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("inference_ms", sa.Float(), nullable=False),
        sa.Column("frames_total", sa.BigInteger(), nullable=False),
        sa.Column("frames_dropped", sa.BigInteger(), nullable=False),
        sa.Column("outbox_depth", sa.Integer(), nullable=False),
        sa.Column("outbox_dropped", sa.Integer(), nullable=False),
        sa.Column("uptime_s", sa.Float(), nullable=False),
        sa.Column("cpu_temp_c", sa.Float(), nullable=True),
        sa.Column("disk_free_bytes", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name="fk_camera_health_samples_camera_id_cameras", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_camera_health_samples"),
    )
    op.create_index("ix_camera_health_samples_camera_ts", "camera_health_samples", ["camera_id", "ts"])

    op.create_table(
        "events",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("camera_id", sa.String(63), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("label", sa.String(40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        _ts("start_ts"),
        _ts("end_ts", nullable=True),
        _ts("last_ts"),
        sa.Column("end_reason", sa.String(20), nullable=True),
        sa.Column("clock_synced", sa.Boolean(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("snapshot_sha256", sa.String(64), nullable=True),
        sa.Column("snapshot_annotated_sha256", sa.String(64), nullable=True),
        sa.Column("clip_sha256", sa.String(64), nullable=True),
        _ts("received_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_events_camera_id_cameras", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_start_ts_id", "events", ["start_ts", "id"])
    op.create_index("ix_events_camera_start_ts_id", "events", ["camera_id", "start_ts", "id"])
    op.create_index("ix_events_label_start_ts_id", "events", ["label", "start_ts", "id"])

    op.create_table(
        "event_zones",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("zone", sa.String(40), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_event_zones_event_id_events", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", "zone", name="pk_event_zones"),
    )
    op.create_index("ix_event_zones_zone_event", "event_zones", ["zone", "event_id"])

    op.create_table(
        "line_counts",
        sa.Column("camera_id", sa.String(63), nullable=False),
        sa.Column("line", sa.String(40), nullable=False),
        _ts("period_start"),
        sa.Column("label", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        _ts("period_end"),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_line_counts_camera_id_cameras", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id", "line", "period_start", "label", "direction", name="pk_line_counts"),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("last_seen_at"),
        _ts("expires_at"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sessions_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])

    op.create_table(
        "commands",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("camera_id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(20), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=True),
        _ts("issued_at"),
        _ts("expires_at"),
        sa.Column("result_ok", sa.Boolean(), nullable=True),
        _ts("result_ts", nullable=True),
        sa.Column("result_detail", sa.Text(), nullable=True),
        sa.Column("result_media_sha256", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_commands_camera_id_cameras", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["issued_by"], ["users.id"], name="fk_commands_issued_by_users", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_commands"),
    )
    op.create_index("ix_commands_camera_issued", "commands", ["camera_id", "issued_at"])


def downgrade() -> None:
    for index, table in (
        ("ix_commands_camera_issued", "commands"),
        ("ix_sessions_user_id", "sessions"),
        ("ix_event_zones_zone_event", "event_zones"),
        ("ix_events_label_start_ts_id", "events"),
        ("ix_events_camera_start_ts_id", "events"),
        ("ix_events_start_ts_id", "events"),
        ("ix_camera_health_samples_camera_ts", "camera_health_samples"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "commands", "sessions", "users", "line_counts", "event_zones", "events", "camera_health_samples", "cameras",
    ):
        op.drop_table(table)
