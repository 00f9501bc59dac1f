"""Hot-path ``INSERT ... ON CONFLICT`` statements that SQLAlchemy 1.4 compiles once.

SQLAlchemy 1.4's dialect constructs (``postgresql.insert(...).on_conflict_do_nothing()`` and SQLite's) have
no cache key, so each execution compiles them again: three such statements were a quarter of the gateway's
CPU per message. A ``text()`` statement is cached; the syntax below is the same in SQLite (3.24+) and
PostgreSQL, and the bound values keep the columns' types (dates, JSON, booleans).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

from sqlalchemy import Table, bindparam, text
from sqlalchemy.sql.elements import TextClause


def quoted(name: str) -> str:
    """An identifier quoted for SQLite and PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'


def insert_on_conflict(
    table: Table, columns: Sequence[str], conflict: str, values: Optional[Mapping[str, str]] = None,
    update: Optional[Mapping[str, str]] = None,
) -> TextClause:
    """``INSERT INTO table (columns) VALUES (...) ON CONFLICT (conflict) DO NOTHING`` (or ``DO UPDATE SET``).

    Each column takes the bound parameter of its name unless ``values`` gives an SQL expression for it;
    ``update`` maps columns to SQL expressions (``excluded.<column>`` is the row that was refused).
    """
    values = values or {}
    names = ", ".join(quoted(c) for c in columns)
    exprs = ", ".join(values.get(c, f":{c}") for c in columns)
    action = "DO NOTHING"
    if update:
        action = "DO UPDATE SET " + ", ".join(f"{quoted(c)} = {expr}" for c, expr in update.items())
    sql = f"INSERT INTO {quoted(table.name)} ({names}) VALUES ({exprs}) ON CONFLICT ({quoted(conflict)}) {action}"
    params = [bindparam(c, type_=table.c[c].type) for c in columns if c not in values]
    return text(sql).bindparams(*params)
