"""Persistence: SQLAlchemy models, engine and sessions, migrations, blob stores, queries."""
