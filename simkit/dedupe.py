"""Building blocks of idempotent consumers: a dedupe table and an email provider.

At-least-once delivery means a consumer *will* see some messages twice. Two tools
from practice turn a repeat into a no-op:

* :class:`DedupeTable`: the ids of messages already handled, kept as rows of a
  database table. Written in the *same* transaction as the side effect, the id and
  the effect land together or not at all, so a redelivered message is recognised and
  skipped whatever moment a crash struck. Rows expire after a TTL (a cleanup job
  deletes them), which keeps the table small and also means a copy that arrives
  later than the TTL is no longer recognised.
* :class:`~simkit.services.EmailProvider` (in :mod:`simkit.services` with the other
  outside services, and importable from here as before): a side effect *outside* the database, reached over the
  network. No transaction can include it. If the provider accepts an idempotency
  key (as Stripe's ``Idempotency-Key`` header, or an SES / SendGrid message id the
  sender chooses), it answers a repeated request with the same key without sending
  again; without one, every request sends an email.

:func:`table_size` rebuilds a dedupe table's size over time from the trace alone.
"""

from __future__ import annotations

from typing import Any, Generator

import numpy as np
import pandas as pd
import simpy

from .database import Database, Transaction
from .errors import ConfigError
from .monitor import Monitor
from .services import EmailProvider  # it lives with the other outside services now
from .world import World

__all__ = ["DedupeTable", "EmailProvider", "table_size"]


def _ms(param: str, value: Any, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(param, value, "a number of ms > 0" + (", or None" if allow_none else ""))
    return float(value)


class DedupeTable:
    """Processed message ids as rows of ``table`` in ``db``: ``msg_id -> time it was recorded`` (ms).

    * ``seen(tx, msg_id)`` / ``add(tx, msg_id)``: check and record inside the caller's
      transaction, so the id commits together with the side effect (``add`` writes
      nothing until ``tx.commit()``).
    * ``contains(msg_id)``: a plain read with the database's read latency
      (``yield from``), for designs that check before they open a transaction.
    * ``ttl`` (ms, or ``None`` to keep ids forever): every ``cleanup_interval`` ms a
      cleanup transaction deletes the rows older than ``ttl`` and writes one
      ``dedupe_expired`` trace row per id. Until the cleanup runs, an old row still
      counts, as with a ``DELETE ... WHERE processed_at < now() - ttl`` job.
    * ``monitor``: a :class:`~simkit.monitor.Monitor` sampling the row count every
      ``sample_interval`` ms (its frame is the table's size over time).
    """

    def __init__(
        self,
        world: World,
        db: Database,
        table: str = "consumer.processed",
        *,
        ttl: float | None = None,
        cleanup_interval: float = 1000,
        sample_interval: float = 100,
    ):
        self.world = world
        self.db = db
        self.ttl = _ms("ttl", ttl, allow_none=True)
        self.cleanup_interval = _ms("cleanup_interval", cleanup_interval)
        self.table = table
        self.rows = db.create_table(table)
        self.owner = table.split(".", 1)[0] if "." in table else None
        self.monitor = Monitor(world, "dedupe_table_size", lambda: len(self.rows), interval=sample_interval)
        if self.ttl is not None:
            world.env.process(self._cleanup())

    @property
    def size(self) -> int:
        """How many ids the table holds now (committed rows)."""
        return len(self.rows)

    def seen(self, tx: Transaction, msg_id: Any) -> bool:
        """Whether ``msg_id`` is recorded, as ``tx`` sees the table."""
        return tx.get(self.table, msg_id) is not None

    def add(self, tx: Transaction, msg_id: Any) -> None:
        """Record ``msg_id`` in ``tx``; it becomes visible when ``tx`` commits."""
        tx.put(self.table, msg_id, self.world.now)

    def contains(self, msg_id: Any) -> Generator[simpy.Event, Any, bool]:
        """Read whether ``msg_id`` is recorded: ``found = yield from table.contains(m)``."""
        value = yield from self.db.read(self.table, msg_id)
        return value is not None

    def size_series(self) -> pd.DataFrame:
        """The sampled size over time: columns ``time`` (ms) and ``dedupe_table_size`` (rows)."""
        return self.monitor.to_frame()

    def _cleanup(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        assert self.ttl is not None
        while True:
            yield env.timeout(self.cleanup_interval)
            cutoff = env.now - self.ttl
            old = [(m, t) for m, t in self.rows.items() if t <= cutoff]
            if not old:
                continue
            tx = self.db.transaction(self.owner)
            for msg_id, _ in old:
                tx.delete(self.table, msg_id)
            yield from tx.commit()
            for msg_id, t in old:
                self.world.record(self.db.name, "dedupe_expired", msg_id=msg_id,
                                  detail=f"{self.table}: recorded at {t:.0f} ms, older than ttl {self.ttl:g} ms")


def table_size(trace: pd.DataFrame, table: str) -> pd.DataFrame:
    """A dedupe table's row count over time, rebuilt from the trace alone.

    A row appears when a ``db_commit`` whose tables include ``table`` commits for a
    message id; it disappears at that id's ``dedupe_expired`` row. Returns columns
    ``time`` (ms) and ``size`` (rows), one line per change.
    """
    commits = trace[(trace["event"] == "db_commit") & trace["msg_id"].notna()]
    # a boolean Series, not a list: an empty list would select columns, not rows
    adds = commits[commits["detail"].map(lambda d: table in str(d).split(",")).astype(bool)]
    drops = trace[(trace["event"] == "dedupe_expired") & trace["detail"].astype(str).str.startswith(table + ":")]
    steps = pd.concat([adds[["time", "msg_id"]].assign(op=1), drops[["time", "msg_id"]].assign(op=-1)])
    steps = steps.sort_index(kind="stable")  # trace order is time order
    live: set[Any] = set()
    times, sizes = [], []
    for t, m, op in zip(steps["time"], steps["msg_id"], steps["op"]):
        if op > 0:
            live.add(m)
        else:
            live.discard(m)
        times.append(float(t))
        sizes.append(len(live))
    return pd.DataFrame({"time": np.asarray(times, dtype=float), "size": np.asarray(sizes, dtype=int)})
