"""Create tables for teleconference rooms, participants and audit.

Revision ID: 0003_conferences
Revises: '0002_complaints'
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_conferences"
down_revision = '0002_complaints'
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user_fk(table: str, column: str, ondelete: str = "SET NULL") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete=ondelete)


# The audit table is append-only; these triggers enforce it below the ORM.
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER conference_audit_no_update BEFORE UPDATE ON conference_audit "
    "BEGIN SELECT RAISE(ABORT, 'conference_audit is append-only'); END",
    "CREATE TRIGGER conference_audit_no_delete BEFORE DELETE ON conference_audit "
    "BEGIN SELECT RAISE(ABORT, 'conference_audit is append-only'); END",
)
_POSTGRES_TRIGGERS = (
    "CREATE FUNCTION conference_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'conference_audit is append-only'; END $$",
    "CREATE TRIGGER conference_audit_append_only BEFORE UPDATE OR DELETE ON conference_audit "
    "FOR EACH ROW EXECUTE FUNCTION conference_audit_append_only()",
)


def upgrade() -> None:
    op.create_table(
        "conferences",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("room", sa.String(40), nullable=False),
        sa.Column("backend", sa.String(8), nullable=False),
        sa.Column("subject_kind", sa.String(10), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("complaint_id", sa.String(64), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        _ts("scheduled_start"),
        _ts("expires_at"),
        sa.Column("lobby", sa.Boolean(), nullable=False),
        sa.Column("recording", sa.Boolean(), nullable=False),
        sa.Column("bbb_create_time", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _ts("created_at"),
        _ts("ended_at", nullable=True),
        sa.Column("ended_by", sa.Integer(), nullable=True),
        sa.Column("end_reason", sa.String(20), nullable=True),
        _ts("backend_closed_at", nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_conferences_event_id_events", ondelete="SET NULL"),
        _user_fk("conferences", "created_by"),
        _user_fk("conferences", "ended_by"),
        sa.PrimaryKeyConstraint("id", name="pk_conferences"),
        sa.UniqueConstraint("room", name="uq_conferences_room"),
    )
    op.create_index("ix_conferences_event_id", "conferences", ["event_id"])
    op.create_index("ix_conferences_complaint_id", "conferences", ["complaint_id"])
    op.create_index("ix_conferences_ended_at_start", "conferences", ["ended_at", "scheduled_start"])

    op.create_table(
        "conference_participants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conference_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("moderator", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("invited_by", sa.Integer(), nullable=True),
        _ts("invited_at"),
        sa.ForeignKeyConstraint(
            ["conference_id"], ["conferences.id"], name="fk_conference_participants_conference_id_conferences", ondelete="CASCADE"
        ),
        _user_fk("conference_participants", "user_id", ondelete="CASCADE"),
        _user_fk("conference_participants", "invited_by"),
        sa.PrimaryKeyConstraint("id", name="pk_conference_participants"),
        sa.UniqueConstraint("conference_id", "user_id", name="uq_conference_participants_conference_user"),
    )

    op.create_table(
        "conference_links",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("conference_id", sa.String(36), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=True),
        _ts("issued_at"),
        _ts("not_before"),
        _ts("expires_at"),
        _ts("revoked_at", nullable=True),
        sa.Column("revoke_reason", sa.String(20), nullable=True),
        sa.ForeignKeyConstraint(
            ["conference_id"], ["conferences.id"], name="fk_conference_links_conference_id_conferences", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["conference_participants.id"],
            name="fk_conference_links_participant_id_conference_participants",
            ondelete="CASCADE",
        ),
        _user_fk("conference_links", "issued_by"),
        sa.PrimaryKeyConstraint("id", name="pk_conference_links"),
    )
    op.create_index("ix_conference_links_conference_id", "conference_links", ["conference_id"])

    op.create_table(
        "conference_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conference_id", sa.String(36), nullable=False),
        _ts("ts"),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_username", sa.String(64), nullable=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conference_audit"),
    )
    op.create_index("ix_conference_audit_conference_ts", "conference_audit", ["conference_id", "ts"])

    dialect = op.get_bind().dialect.name
    triggers = _POSTGRES_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS if dialect == "sqlite" else ()
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS conference_audit_append_only ON conference_audit")
        op.execute("DROP FUNCTION IF EXISTS conference_audit_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS conference_audit_no_update")
        op.execute("DROP TRIGGER IF EXISTS conference_audit_no_delete")
    op.drop_index("ix_conference_audit_conference_ts", table_name="conference_audit")
    op.drop_table("conference_audit")
    op.drop_index("ix_conference_links_conference_id", table_name="conference_links")
    op.drop_table("conference_links")
    op.drop_table("conference_participants")
    for index in ("ix_conferences_ended_at_start", "ix_conferences_complaint_id", "ix_conferences_event_id"):
        op.drop_index(index, table_name="conferences")
    op.drop_table("conferences")
