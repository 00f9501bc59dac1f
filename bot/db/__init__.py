"""Transcript storage (SQLAlchemy, SQLite or PostgreSQL)."""
