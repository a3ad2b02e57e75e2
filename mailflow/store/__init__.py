"""Persistence: SQLModel tables, engines and transactions, migrations, queries."""
