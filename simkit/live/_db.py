"""The live lab's database: the sign-up service's users table and its outbox, in SQLite or PostgreSQL.

This module imports nothing from simkit: the live lab's child processes load it on
their own, so that a restart after a crash costs a Python start-up, not a simkit import.

SQLite (the default) is a file in the run's temporary folder; PostgreSQL is used when
the database is given as a DSN (``postgresql://...`` or ``host=... dbname=...``), and
there the relay claims outbox rows with ``SELECT ... FOR UPDATE SKIP LOCKED``, so that
several relays could share the table without publishing one row twice at a time.
Tables are named ``<prefix>_users`` and ``<prefix>_outbox`` with a run-specific prefix.
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = ["Store", "is_dsn"]


def is_dsn(database: str) -> bool:
    """True when ``database`` names a PostgreSQL server rather than a SQLite file."""
    return database.startswith(("postgresql://", "postgres://")) or "dbname=" in database or "host=" in database


class Store:
    """One connection to the run's tables; ``database`` is a SQLite path or a PostgreSQL DSN."""

    def __init__(self, database: str, prefix: str):
        self.postgres = is_dsn(database)
        self.users = f"{prefix}_users"
        self.outbox = f"{prefix}_outbox"
        if self.postgres:
            import psycopg

            self.conn: Any = psycopg.connect(database, autocommit=True)  # explicit BEGIN ... COMMIT below
            self.mark = "%s"
        else:
            # autocommit mode: every transaction below is an explicit BEGIN ... COMMIT
            self.conn = sqlite3.connect(database, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.mark = "?"

    def _sql(self, text: str) -> str:
        return text.replace("?", self.mark)

    def _run(self, statements: list[tuple[str, tuple]]) -> None:
        """Run ``statements`` in one transaction."""
        cur = self.conn.cursor()
        cur.execute("BEGIN")
        try:
            for sql, args in statements:
                cur.execute(self._sql(sql), args)
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    # -- the parent's side: make, read and drop the tables -------------------------------------
    def create_tables(self) -> None:
        """Create the users and outbox tables (the outbox's ids count up in commit order)."""
        serial = "BIGSERIAL PRIMARY KEY" if self.postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        self._run([
            (f"CREATE TABLE {self.users} (event_id TEXT PRIMARY KEY, email TEXT NOT NULL, "
             f"created_ms DOUBLE PRECISION NOT NULL, with_outbox INTEGER NOT NULL)", ()),
            (f"CREATE TABLE {self.outbox} (id {serial}, event_id TEXT NOT NULL, topic TEXT NOT NULL, "
             f"key TEXT NOT NULL, payload TEXT NOT NULL, published INTEGER NOT NULL DEFAULT 0)", ()),
        ])

    def drop_tables(self) -> None:
        """Remove both tables."""
        self._run([(f"DROP TABLE IF EXISTS {self.users}", ()), (f"DROP TABLE IF EXISTS {self.outbox}", ())])

    def committed_users(self) -> list[tuple[str, float, int]]:
        """Every committed user as ``(event_id, created_ms, with_outbox)``, in commit-time order."""
        cur = self.conn.cursor()
        cur.execute(f"SELECT event_id, created_ms, with_outbox FROM {self.users} ORDER BY created_ms")
        rows = cur.fetchall()
        self.conn.commit()
        return [(str(e), float(t), int(o)) for e, t, o in rows]

    def unpublished(self) -> int:
        """How many outbox rows the relay has not marked published yet."""
        cur = self.conn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM {self.outbox} WHERE published = 0")
        (count,) = cur.fetchone()
        self.conn.commit()
        return int(count)

    # -- the service's side ------------------------------------------------------------------
    def create_user(self, event_id: str, user: str, created_ms: float, event: tuple[str, str, str] | None) -> None:
        """Commit the user's row, and with ``event=(topic, key, payload)`` its outbox row in the same transaction."""
        statements = [(f"INSERT INTO {self.users} (event_id, email, created_ms, with_outbox) VALUES (?, ?, ?, ?)",
                       (event_id, f"{user}@example.org", created_ms, int(event is not None)))]
        if event is not None:
            statements.append((f"INSERT INTO {self.outbox} (event_id, topic, key, payload) VALUES (?, ?, ?, ?)",
                               (event_id, *event)))
        self._run(statements)

    # -- the relay's side ----------------------------------------------------------------------
    def claim(self) -> tuple[int, str, str, str, str] | None:
        """The oldest unpublished outbox row ``(id, event_id, topic, key, payload)``, or None.

        On PostgreSQL the row stays locked (``FOR UPDATE SKIP LOCKED``) in an open
        transaction until :meth:`mark_published` commits it; SQLite has one writer at a
        time anyway, so there the row is only read.
        """
        cur = self.conn.cursor()
        lock = " FOR UPDATE SKIP LOCKED" if self.postgres else ""
        if self.postgres:
            cur.execute("BEGIN")
        cur.execute(f"SELECT id, event_id, topic, key, payload FROM {self.outbox} WHERE published = 0 "
                    f"ORDER BY id LIMIT 1{lock}")
        row = cur.fetchone()
        if row is None and self.postgres:
            cur.execute("COMMIT")
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]))

    def mark_published(self, row_id: int) -> None:
        """Commit that outbox row ``row_id`` is published (on PostgreSQL this ends the claim's transaction)."""
        cur = self.conn.cursor()
        if not self.postgres:
            cur.execute("BEGIN")
        cur.execute(self._sql(f"UPDATE {self.outbox} SET published = 1 WHERE id = ?"), (row_id,))
        cur.execute("COMMIT")

    def release(self) -> None:
        """Give a claimed row back without marking it (PostgreSQL rolls the claim back; SQLite has none)."""
        if self.postgres:
            self.conn.cursor().execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection (an open transaction is rolled back)."""
        self.conn.close()
