"""conversation references, staff audit log, encrypted ticket contact (issue 14)

Adds ``staff_access`` (who opened which transcript or revealed which ticket contact, when, through
which endpoint) and makes ``offline_tickets.contact`` hold a Fernet token (``Text``). Rows written
before this revision are marked ``contact_sealed = false`` (clear text); the gateway encrypts them with
its contact key when it starts (``HandoffRepository.seal_legacy_contacts``), since a migration does not
hold that key.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_access",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=True),
        sa.Column("ticket_id", sa.Integer, nullable=True),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
    )
    op.create_index("ix_staff_access_time", "staff_access", ["created_at", "id"])
    op.create_index("ix_staff_access_conversation", "staff_access", ["conversation_id", "created_at"])
    with op.batch_alter_table("offline_tickets") as batch:
        batch.alter_column("contact", existing_type=sa.String(200), type_=sa.Text, existing_nullable=True)
        batch.add_column(sa.Column("contact_sealed", sa.Boolean, nullable=False, server_default=sa.false()))
    # rows written from now on are sealed unless the gateway says otherwise
    with op.batch_alter_table("offline_tickets") as batch:
        batch.alter_column("contact_sealed", existing_type=sa.Boolean, existing_nullable=False,
                           server_default=sa.true())


def downgrade() -> None:
    # the contact column stays Text: its Fernet tokens do not fit the old String(200)
    with op.batch_alter_table("offline_tickets") as batch:
        batch.drop_column("contact_sealed")
    op.drop_index("ix_staff_access_conversation", table_name="staff_access")
    op.drop_index("ix_staff_access_time", table_name="staff_access")
    op.drop_table("staff_access")
