"""Add keyset indexes on (created_at, id) for the complaint queue and Open311 lists.

The two-column indexes on (status, created_at) and (category_code, created_at) become
three-column ones ending in id, so a page after a cursor needs no sort step.

Revision ID: 0005_list_indexes
Revises: 0004_media
"""

from __future__ import annotations

from alembic import op

revision = "0005_list_indexes"
down_revision = "0004_media"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_complaints_created_id", "complaints", ["created_at", "id"])
    op.create_index("ix_complaints_status_created_id", "complaints", ["status", "created_at", "id"])
    op.create_index("ix_complaints_category_created_id", "complaints", ["category_code", "created_at", "id"])
    op.create_index("ix_complaints_opd_created_id", "complaints", ["opd_code", "created_at", "id"])
    op.drop_index("ix_complaints_status_created", table_name="complaints")
    op.drop_index("ix_complaints_category_created", table_name="complaints")


def downgrade() -> None:
    op.create_index("ix_complaints_category_created", "complaints", ["category_code", "created_at"])
    op.create_index("ix_complaints_status_created", "complaints", ["status", "created_at"])
    op.drop_index("ix_complaints_opd_created_id", table_name="complaints")
    op.drop_index("ix_complaints_category_created_id", table_name="complaints")
    op.drop_index("ix_complaints_status_created_id", table_name="complaints")
    op.drop_index("ix_complaints_created_id", table_name="complaints")
