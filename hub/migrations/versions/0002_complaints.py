"""Create tables for Lapor Yai complaints, photos, history and rate limits.

Revision ID: 0002_complaints
Revises: '0001_core'
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_complaints"
down_revision = '0001_core'
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


# complaint_history is append-only; these triggers enforce it below the ORM.
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER complaint_history_no_update BEFORE UPDATE ON complaint_history "
    "BEGIN SELECT RAISE(ABORT, 'complaint_history is append-only'); END",
    "CREATE TRIGGER complaint_history_no_delete BEFORE DELETE ON complaint_history "
    "BEGIN SELECT RAISE(ABORT, 'complaint_history is append-only'); END",
)
_POSTGRES_TRIGGERS = (
    "CREATE FUNCTION complaint_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'complaint_history is append-only'; END $$",
    "CREATE TRIGGER complaint_history_append_only BEFORE UPDATE OR DELETE ON complaint_history "
    "FOR EACH ROW EXECUTE FUNCTION complaint_history_append_only()",
)


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tracking_code", sa.String(12), nullable=False),
        sa.Column("open311_token", sa.String(32), nullable=False),
        sa.Column("classification", sa.String(24), nullable=False),
        sa.Column("category_code", sa.String(40), nullable=False),
        sa.Column("opd_code", sa.String(40), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contact_name", sa.String(120), nullable=True),
        sa.Column("contact_phone", sa.String(32), nullable=True),
        sa.Column("contact_email", sa.String(254), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("verify_due_at"),
        _ts("follow_up_due_at", nullable=True),
        _ts("closed_at", nullable=True),
        _ts("anonymised_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_complaints"),
        sa.ForeignKeyConstraint(
            ["duplicate_of"], ["complaints.id"], name="fk_complaints_duplicate_of_complaints", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("tracking_code", name="uq_complaints_tracking_code"),
        sa.UniqueConstraint("open311_token", name="uq_complaints_open311_token"),
    )
    op.create_index("ix_complaints_status_created", "complaints", ["status", "created_at"])
    op.create_index("ix_complaints_category_created", "complaints", ["category_code", "created_at"])
    op.create_index("ix_complaints_opd_status", "complaints", ["opd_code", "status"])
    op.create_index("ix_complaints_updated_at", "complaints", ["updated_at"])

    op.create_table(
        "complaint_photos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_photos"),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name="fk_complaint_photos_complaint_id_complaints", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("complaint_id", "position", name="uq_complaint_photos_position"),
    )
    op.create_index("ix_complaint_photos_sha256", "complaint_photos", ["sha256"])

    op.create_table(
        "complaint_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        _ts("at"),
        sa.Column("actor_kind", sa.String(10), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(120), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(24), nullable=True),
        sa.Column("to_status", sa.String(24), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("opd_code", sa.String(40), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_history"),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name="fk_complaint_history_complaint_id_complaints", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name="fk_complaint_history_actor_user_id_users", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_complaint_history_complaint_id", "complaint_history", ["complaint_id", "id"])

    op.create_table(
        "complaint_idempotency",
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("key_hash", name="pk_complaint_idempotency"),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name="fk_complaint_idempotency_complaint_id_complaints", ondelete="CASCADE"
        ),
    )

    op.create_table(
        "complaint_rate_hits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bucket", sa.String(64), nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_rate_hits"),
    )
    op.create_index("ix_complaint_rate_hits_bucket_at", "complaint_rate_hits", ["bucket", "at"])

    op.create_table(
        "complaint_opd_members",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("opd_code", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_complaint_opd_members"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_complaint_opd_members_user_id_users", ondelete="CASCADE"
        ),
    )

    op.create_table(
        "open311_api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(120), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_open311_api_keys"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name="fk_open311_api_keys_created_by_users", ondelete="SET NULL"),
        sa.UniqueConstraint("key_hash", name="uq_open311_api_keys_key_hash"),
    )

    dialect = op.get_bind().dialect.name
    for statement in _POSTGRES_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS if dialect == "sqlite" else ():
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS complaint_history_append_only ON complaint_history")
        op.execute("DROP FUNCTION IF EXISTS complaint_history_append_only()")
    for table in (
        "open311_api_keys",
        "complaint_opd_members",
        "complaint_rate_hits",
        "complaint_idempotency",
        "complaint_history",
        "complaint_photos",
        "complaints",
    ):
        op.drop_table(table)
