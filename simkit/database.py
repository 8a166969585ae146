"""A transactional database: tables, atomic commits, crashes that discard uncommitted work.

Writes inside a :class:`Transaction` are buffered and become visible all at once
when ``commit`` finishes; a process that crashes before that leaves no trace in the
tables, which is exactly what makes the outbox pattern work: the state change and
the event row are written together or not at all.

Tables are named ``"schema.table"``. A transaction opened for an ``owner`` (a logical
boundary such as ``"billing"``) may only touch tables of its own schema: a boundary
owns its schema, even when all boundaries share one database server.

Isolation (``isolation=``), between transactions that run at the same time:

* ``"read_committed"`` (the default): a read sees the rows committed when it reads; a
  commit writes its rows with no lock and no conflict check, so the last writer wins.
  Two transactions that both read "absent" and both write will both commit.
* ``"serializable"``: optimistic concurrency control. A transaction notes the version of
  every key the first time it reads it (an absent key too) or writes it; its commit is
  refused with :class:`~simkit.errors.TransactionConflict` if any of those keys was
  committed by another transaction since, and nothing of it is written. The first
  committer wins, and the loser retries with fresh reads. This is what PostgreSQL's
  ``SERIALIZABLE`` (serializable snapshot isolation) does for the read-then-write
  pattern of one key: "could not serialize access due to concurrent update", SQLSTATE
  40001 (https://www.postgresql.org/docs/current/transaction-iso.html#XACT-SERIALIZABLE).
  Versions count commits: a row written straight into ``db.tables`` (not through a
  transaction) bumps no version.
"""

from __future__ import annotations

from typing import Any, Generator, Iterator

import simpy

from .distributions import DistributionLike, as_distribution
from .errors import ConfigError, DatabaseUnavailable, SimkitError, TransactionConflict
from .faults import window
from .params import check_choice
from .world import World

__all__ = ["ISOLATION_LEVELS", "BoundaryViolation", "Database", "Transaction", "TransactionConflict"]

#: the isolation levels a :class:`Database` offers (see the module docs)
ISOLATION_LEVELS = ("read_committed", "serializable")


class BoundaryViolation(SimkitError):
    """A boundary touched a table in another boundary's schema."""


class Database:
    """One database server with tables, transactions, latency and outage windows (times in ms).

    ``isolation`` is ``"read_committed"`` (the default: no conflict check, last writer wins)
    or ``"serializable"`` (a commit whose reads or writes went stale raises
    :class:`~simkit.errors.TransactionConflict`); see the module docs.
    """

    def __init__(
        self,
        world: World,
        name: str = "db",
        *,
        read_latency: DistributionLike = 0,
        commit_latency: DistributionLike = 0,
        isolation: str = "read_committed",
    ):
        self.isolation: str = check_choice("isolation", isolation, ISOLATION_LEVELS)
        self.world = world
        self.name = world.claim_name(name)
        self.read_latency = as_distribution("read_latency", read_latency)
        self.commit_latency = as_distribution("commit_latency", commit_latency)
        self.tables: dict[str, dict[Any, Any]] = {}
        self.down = False
        self._down_windows = 0
        self.outages: list[tuple[float, float]] = []
        self._rng = world.rng(f"{name}/latency")
        self.commits = 0
        self.conflicts = 0
        #: how many commits wrote each (table, key): the versions a serializable commit checks
        self.versions: dict[tuple[str, Any], int] = {}

    def create_table(self, table: str) -> dict[Any, Any]:
        """Create ``table`` (``"schema.table"`` or a bare name) and return its committed rows."""
        if not isinstance(table, str) or not table:
            raise ConfigError("table", table, "a non-empty string such as 'orders.orders'")
        if table in self.tables:
            raise ConfigError("table", table, "a table name not created yet")
        self.tables[table] = {}
        return self.tables[table]

    def table(self, table: str) -> dict[Any, Any]:
        """The committed rows of ``table`` (read-only by convention: write through a transaction)."""
        try:
            return self.tables[table]
        except KeyError:
            raise ConfigError("table", table, sorted(self.tables) or "a table created first") from None

    def outage(self, start: float, duration: float) -> None:
        """Make the database refuse every commit and read from ``start`` for ``duration`` ms."""

        def down() -> None:
            self._down_windows += 1
            if self._down_windows == 1:  # overlapping windows: down from the first start to the last end
                self.down = True
                self.world.record(self.name, "db_down")

        def up() -> None:
            self._down_windows -= 1
            if self._down_windows == 0:
                self.down = False
                self.world.record(self.name, "db_up")

        self.outages.append(window(self.world, start, duration, down, up))

    def transaction(self, owner: str | None = None, msg_id: Any = None) -> "Transaction":
        """Begin a transaction; ``owner`` restricts it to the tables of that schema."""
        return Transaction(self, owner, msg_id)

    def read(self, table: str, key: Any, default: Any = None) -> Generator[simpy.Event, Any, Any]:
        """Read a committed value, paying the read latency: ``value = yield from db.read(...)``."""
        rows = self.table(table)
        if not self.read_latency.is_zero:
            yield self.world.env.timeout(self.read_latency.sample(self._rng))
        if self.down:
            raise DatabaseUnavailable(f"{self.name} is down: read refused")
        return rows.get(key, default)

    def scan(self, table: str) -> Iterator[tuple[Any, Any]]:
        """Committed rows of ``table`` in key order (no latency: for relays and checks)."""
        rows = self.table(table)
        return iter(sorted(rows.items(), key=lambda kv: kv[0]))


class Transaction:
    """Buffered writes that commit atomically. Reads see the transaction's own writes first."""

    __slots__ = ("_seen", "_writes", "db", "done", "msg_id", "owner")

    _DELETED = object()

    def __init__(self, db: Database, owner: str | None, msg_id: Any):
        self.db = db
        self.owner = owner
        self.msg_id = msg_id
        self._writes: dict[tuple[str, Any], Any] = {}
        #: the version of each key when this transaction first read or wrote it
        self._seen: dict[tuple[str, Any], int] = {}
        self.done = False

    def _note(self, table: str, key: Any) -> None:
        if (table, key) not in self._seen:
            self._seen[(table, key)] = self.db.versions.get((table, key), 0)

    def _check(self, table: str) -> None:
        self.db.table(table)
        if self.done:
            raise SimkitError("this transaction has already committed or aborted")
        if self.owner is not None and table.split(".", 1)[0] != self.owner:
            raise BoundaryViolation(
                f"boundary {self.owner!r} touched table {table!r}: a boundary only reads and writes its own "
                f"schema ({self.owner}.*); ask the owning boundary, or react to its events"
            )

    def get(self, table: str, key: Any, default: Any = None) -> Any:
        """The value as this transaction sees it (its own writes, else committed)."""
        self._check(table)
        self._note(table, key)
        if (table, key) in self._writes:
            value = self._writes[(table, key)]
            return default if value is Transaction._DELETED else value
        return self.db.tables[table].get(key, default)

    def put(self, table: str, key: Any, value: Any) -> None:
        """Write ``value`` under ``key`` (insert or replace), visible to others after commit."""
        self._check(table)
        self._note(table, key)
        self._writes[(table, key)] = value

    def delete(self, table: str, key: Any) -> None:
        """Delete ``key`` from ``table`` at commit."""
        self._check(table)
        self._note(table, key)
        self._writes[(table, key)] = Transaction._DELETED

    def commit(self) -> Generator[simpy.Event, Any, None]:
        """Commit atomically: ``yield from tx.commit()``. Raises DatabaseUnavailable when down.

        The writes land at the end of the commit latency, all together; a crash before
        that moment loses all of them. Under ``isolation="serializable"`` the check is made
        at that same moment: if another commit wrote a key this transaction read or wrote
        since it first touched it, nothing is written and
        :class:`~simkit.errors.TransactionConflict` is raised (a ``db_conflict`` row).
        """
        db = self.db
        if self.done:
            raise SimkitError("this transaction has already committed or aborted")
        if not db.commit_latency.is_zero:
            yield db.world.env.timeout(db.commit_latency.sample(db._rng))
        if db.down:
            self.done = True
            db.world.record(db.name, "db_rejected", msg_id=self.msg_id, detail="database down")
            raise DatabaseUnavailable(f"{db.name} is down: commit refused")
        if db.isolation == "serializable":
            stale = [tk for tk, version in self._seen.items() if db.versions.get(tk, 0) != version]
            if stale:
                self._writes.clear()
                self.done = True
                db.conflicts += 1
                table, key = stale[0]
                where = f"{table}[{key!r}]" + (f" and {len(stale) - 1} more" if len(stale) > 1 else "")
                db.world.record(db.name, "db_conflict", msg_id=self.msg_id, detail=where)
                raise TransactionConflict(
                    f"{db.name}: commit refused, {where} was committed by another transaction after this one "
                    "read or wrote it (serializable isolation: the first committer wins); nothing was written, "
                    "retry the whole transaction")
        for (table, key), value in self._writes.items():
            if value is Transaction._DELETED:
                db.tables[table].pop(key, None)
            else:
                db.tables[table][key] = value
            db.versions[(table, key)] = db.versions.get((table, key), 0) + 1
        self.done = True
        db.commits += 1
        tables = sorted({t for t, _ in self._writes})
        db.world.record(db.name, "db_commit", msg_id=self.msg_id, detail=",".join(tables))

    def abort(self) -> None:
        """Drop every buffered write."""
        self._writes.clear()
        self.done = True
