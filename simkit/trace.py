"""The trace: one row for every step that matters, and the only truth checks and plots read.

Rows are appended to compact columns while the simulation runs (typed arrays, one
small code for each component/event/topic triple, integer message ids kept as
machine integers), and turned into a pandas DataFrame only when a learner or a
checker asks for it. Checkers and reports can read the columns directly with
:func:`columns`, which accepts a :class:`Trace` or its DataFrame alike.

Columns (the schema lives here and nowhere else):

=========  ==========================================================================
time       simulated time of the step, in milliseconds since the start
component  who did it: ``producer``, ``broker``, ``consumer-0``, ``db``, ``relay``, ...
event      what happened (see :data:`EVENTS`)
topic      topic name, or ``None``
partition  partition number, or -1 when it does not apply
offset     offset in the partition log, or -1 when it does not apply
key        the record's key as the application gave it, or ``None``
msg_id     the message id the application gave the message, or ``None``
detail     anything else, as a short string (a crash point, an error, a value)
=========  ==========================================================================
"""

from __future__ import annotations

from array import array
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "EVENTS", "NO_ID", "IdColumn", "Trace", "columns", "read_spans", "spans"]

COLUMNS: tuple[str, ...] = (
    "time", "component", "event", "topic", "partition", "offset", "key", "msg_id", "detail",
)

#: Event names and what each row means. Scenarios may add their own events; these are the core's.
EVENTS: dict[str, str] = {
    "send": "the application handed a record to a producer (the message now exists)",
    "send_failed": "the producer gave up on the record and told the application (detail: why)",
    "retry": "the producer sends a batch again after an error (detail: the error)",
    "append": "the broker wrote the record to the partition log at this offset",
    "txn_commit": "the broker wrote a commit marker (a control record) at this offset: the transaction's records count "
                  "(detail: the transactional id, and its records' offsets in this partition as spans())",
    "txn_abort": "the broker wrote an abort marker (a control record) at this offset: the transaction's records are void "
                 "(detail: the transactional id, and its records' offsets in this partition as spans())",
    "replicate": "a follower copied the record from its partition's leader to its own log at this offset",
    "truncate": "a replica cut the record from its log to follow a new leader (KIP-101; detail: the epoch)",
    "isr_shrink": "a replica left the partition's in-sync replica set (detail: which and why)",
    "isr_expand": "a replica caught up and joined the partition's in-sync replica set again (detail: which)",
    "leader_elected": "the controller gave the partition a new leader (detail: broker, epoch, 'unclean')",
    "acked": "the application learned that the broker acknowledged its record (offset: where it was written)",
    "duplicate_dropped": "the broker recognised a retried idempotent batch it already had and did not write it",
    "rejected": "the broker refused a request (detail: why) and wrote nothing",
    "broker_down": "the broker became unavailable",
    "broker_up": "the broker became available again",
    "link_down": "a network link stopped carrying messages",
    "link_up": "a network link carries messages again",
    "fetch": "a consumer's poll returned records (detail: how many)",
    "process": "a consumer began handling the record",
    "processed": "the consumer's handler finished the record (its side effect is done)",
    "handler_error": "the handler raised (detail: the exception)",
    "commit": "the group stored the committed offset (the next offset to read) for a partition",
    "commit_failed": "a commit was refused (detail: why)",
    "store_offset": "auto commit: the client stored an offset to commit on the next timer",
    "join": "a consumer joined its group",
    "leave": "the group removed a member (detail: why)",
    "assign": "a rebalance gave a member its partitions (detail: the list)",
    "seek": "a consumer moved its position in a partition (detail: why)",
    "crash": "a component crashed (detail: the crash point or 'time')",
    "paused": "a member stopped running where it was, as in a long GC pause, its work in hand (detail: where)",
    "resumed": "a paused member runs again from where it stopped, unaware that time passed",
    "restart": "a component came back after a crash",
    "alert": "a monitored metric crossed its alert threshold (detail: metric and value)",
    "resolved": "a monitored metric fell back under its alert threshold",
    "db_commit": "a database transaction committed (detail: the tables it wrote)",
    "db_rejected": "the database refused a commit (detail: why); nothing was written",
    "db_conflict": "a serializable commit was refused: a key it read or wrote was committed by another transaction "
                   "since (detail: the key); nothing was written",
    "db_down": "the database became unavailable",
    "db_up": "the database became available again",
    "request": "a client's request reached the service (msg_id: the event the request should publish)",
    "responded": "the service answered the client's request with success",
    "request_failed": "the client's request was answered with an error (detail: why)",
    "outbox_read": "the outbox relay took an unpublished outbox row to publish it (detail: the row)",
    "outbox_published": "the outbox relay got the broker's acknowledgement for the row, not yet marked",
    "outbox_marked": "the outbox relay committed that the row was published (detail: the row)",
    "side_effect": "a consumer's handler did its side effect for the record (detail: which)",
    "counter_incremented": "a handler's transaction that added one to a counter committed (detail: the new value)",
    "value_set": "a handler's transaction that set a value committed; repeating it changes nothing (detail: what)",
    "duplicate_skipped": "a handler recognised a message it had already handled and skipped it (detail: how)",
    "dedupe_expired": "the dedupe table's cleanup deleted an id older than the TTL (detail: table and age)",
    "email_queued": "a committed write to the graded exercise's welcome.emails table: one email handed to the mailer (key: the user)",
    "relay_returned": "a graded exercise's relay returned instead of running for ever (it will not restart)",
    "loop_returned": "a graded exercise's poll loop returned instead of running for ever",
    "email_sent": "the email provider sent an email (key: the recipient; msg_id: the message behind it)",
    "email_ignored": "the email provider recognised a repeated idempotency key and sent nothing (detail: the key)",
    "republish": "an upstream publisher sent a message again, as a replay does (detail: how much later)",
    "email_set": "a consumer applied a 'set email' change to a user's profile, last write wins (detail: the address)",
    "charged": "the payment provider charged the card for the order (msg_id: the order)",
    "declined": "the payment provider declined the card, e.g. the amount is over its limit (msg_id: the order)",
    "refunded": "the payment provider refunded the order's charge",
    "label_created": "the carrier created a shipping label for the order",
    "label_voided": "the carrier voided the order's shipping label",
    "service_down": "an external service started refusing every call",
    "service_up": "an external service answers calls again",
    "call_failed": "a call to another system failed or timed out (detail: which and why)",
    "rolled_back": "the application rolled its database transaction back (detail: why); external effects stay",
    "OrderUpdated": "a CRUD change event: the order row changed (detail: the columns), not what happened",
    "OrderPlaced": "business fact: the customer placed the order",
    "InventoryReserved": "business fact: stock was reserved for the order",
    "InventoryReleased": "business fact: the order's reservation was given back",
    "PaymentAuthorized": "business fact: the provider authorized the payment",
    "PaymentDeclined": "business fact: the provider declined the payment",
    "PaymentTimedOut": "business fact: the payment's outcome is unknown and must be reconciled",
    "PaymentReconciled": "business fact: the provider said what became of a timed-out payment (detail: what)",
    "PaymentRefunded": "business fact: the order's charge was refunded",
    "LabelCreated": "business fact: the carrier has a shipping label for the order",
    "ShippingFailed": "business fact: no label could be had before the shipping deadline",
    "LabelVoided": "business fact: the order's shipping label was voided",
    "CustomerContacted": "business fact: the customer was told what happened (detail: about what)",
    "OrderCompleted": "business fact: the order is paid and ready to ship",
    "OrderOnHold": "business fact: the order waits for the customer after a declined payment",
    "OrderCancelled": "business fact: the order was cancelled and everything done for it undone",
    "deployed": "a piece of infrastructure was started (detail: app instance, database or broker node)",
    "step_failed": "a boundary could not do its part of a request (detail: the step and why)",
    "remote_call": "a boundary called another over the network (detail: callee.operation)",
    "notification_sent": "the notifications boundary sent a message in reaction to an event",
    "profile_read": "a user read their profile back (msg_id: the update they made; detail: the update they saw)",
    "served": "a service finished its own part of a request (msg_id: the request; detail: which part)",
    "event_dropped": "the service gave up on an event its producer could not deliver and kept no copy (detail: why)",
    "handler_retry": "a handler failed on the record and will try again after a back-off (detail: attempt and error)",
    "dead_lettered": "the record went to the dead-letter topic and the consumer moved on (detail: topic and error)",
    "decode_failed": "a consumer could not deserialize the record with its reader schema (detail: why)",
    "schema_registered": "the schema registry accepted a schema version for a subject (detail: subject and version)",
    "schema_rejected": "the schema registry refused a schema that breaks its compatibility mode (detail: why)",
    "payment_received": "the payment service took a payment, or a refund if negative (key: user; detail: cents)",
    "balance_updated": "a projection's transaction set a user's balance (key: the user; detail: the balance in cents)",
    "time_cap": "the run reached the world's simulated time cap and stopped there (detail: the cap)",
    "projection_truncated": "the operator emptied a projection's tables before rebuilding it by a replay",
    "retention_deleted": "the broker's retention cleaner deleted a partition's oldest segments, whole (offset: the "
                         "new log start offset; detail: the old one and retention.ms)",
    "offset_reset": "a consumer had no valid offset in the partition and moved per auto_offset_reset (offset: the one "
                    "asked, -1 for none; detail: why and the new position)",
}


def spans(offsets: Sequence[int]) -> str:
    """Offsets written short, runs as ``first-last``: ``[3, 4, 5, 9]`` -> ``"3-5,9"`` (read back by :func:`read_spans`)."""
    out: list[str] = []
    ordered = sorted(offsets)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def read_spans(text: str) -> list[int]:
    """The offsets :func:`spans` wrote: ``"3-5,9"`` -> ``[3, 4, 5, 9]``."""
    out: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        out.extend(range(int(first), int(last or first) + 1))
    return out


#: stands for "no message id" in an integer id column (the one int64 no id may take)
NO_ID = -(2**63)


class IdColumn:
    """A column of message ids: machine integers while every id is an int, Python objects after.

    Most large runs number their messages, so their ids cost 8 bytes each and no object;
    the first id that is not an int (a string, a tuple) turns the column into a list.
    """

    __slots__ = ("ints", "append", "_data")

    def __init__(self) -> None:
        self._data: Any = array("q")
        self.ints = True
        self.append = self._data.append  # fast path for callers that checked ``ints`` themselves

    def add(self, value: Any) -> None:
        """Append one id (None allowed)."""
        if self.ints:
            if type(value) is int and NO_ID < value < 2**63:
                self.append(value)
                return
            if value is None:
                self.append(NO_ID)
                return
            self._widen()
        self.append(value)

    def _widen(self) -> None:
        self._data = [None if v == NO_ID else v for v in self._data]
        self.ints = False
        self.append = self._data.append

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, i: Any) -> Any:
        if not self.ints:
            return self._data[i]
        if isinstance(i, slice):
            out = self._data[i].tolist()
            return [None if v == NO_ID else v for v in out] if NO_ID in out else out
        v = self._data[i]
        return None if v == NO_ID else v

    def to_numpy(self, objects: bool = True) -> np.ndarray:
        """The ids as a numpy array: objects with None (``objects=True``), else int64 with
        :data:`NO_ID` for None while the column holds ints."""
        if self.ints:
            ids = np.frombuffer(self._data, dtype=np.int64) if len(self._data) else np.zeros(0, np.int64)
            if not objects:
                return ids
            out = ids.astype(object)
            out[ids == NO_ID] = None
            return out
        out = np.empty(len(self._data), dtype=object)
        out[:] = self._data
        return out


class Trace:
    """An append-only table of trace rows, stored column by column.

    ``record`` is the one way rows get in; ``to_frame`` (everything, as a DataFrame) and
    :func:`columns` (some columns of some rows, as numpy arrays) are the ways they come out.
    """

    __slots__ = ("_time", "_kind", "_partition", "_offset", "_ids", "_keys", "_details", "_kinds", "_triples",
                 "_detail_at", "_detail_codes", "_detail_values", "_detail_rows", "_fast", "_frame", "_frame_rows")

    #: columns with few distinct strings, stored as small integer codes and shown as categoricals
    CODED = ("component", "event", "topic")

    def __init__(self) -> None:
        self._time = array("d")
        # 2 bytes a row while they fit (they widen to 4 past 65,535 triples or 32,767 partitions)
        self._kind = array("H")  # code of the row's (component, event, topic)
        self._partition = array("h")
        self._offset = array("i")
        self._ids = IdColumn()
        # keys and details are None in most rows: a list appears with the first one that is not
        self._keys: list[Any] | None = None
        # details are kept for the rows that have one: the row numbers, and per row a code into
        # _detail_values (-2: an unhashable detail, in _detail_rows); nothing for the other rows
        self._detail_at = array("i")
        self._details = array("i")
        self._detail_codes: dict[tuple[type, Any], int] = {}
        self._detail_values: list[Any] = []
        self._detail_rows: dict[int, Any] = {}
        self._fast = (self._time.append, self._kind.append, self._partition.append, self._offset.append,
                      self._ids)
        self._kinds: dict[tuple[str, str, str | None], int] = {}
        self._triples: list[tuple[str, str, str | None]] = []
        self._frame: pd.DataFrame | None = None
        self._frame_rows = -1

    def record(
        self,
        time: float,
        component: str,
        event: str,
        topic: str | None = None,
        partition: int = -1,
        offset: int = -1,
        key: Any = None,
        msg_id: Any = None,
        detail: Any = None,
    ) -> None:
        """Append one row. Keep ``detail`` short: it is for a human reading the trace."""
        kind = self._kinds.get((component, event, topic))
        if kind is None:
            kind = self._new_kind(component, event, topic)
        add_time, add_kind, add_partition, add_offset, ids = self._fast
        try:
            add_partition(partition)
        except OverflowError:  # a partition number past 2 bytes: widen the column once
            self._widen("_partition")
            self._partition.append(partition)
        add_time(time)
        add_kind(kind)
        add_offset(offset)
        if ids.ints and type(msg_id) is int and NO_ID < msg_id < 2**63:
            ids.append(msg_id)
        elif msg_id is None and ids.ints:
            ids.append(NO_ID)  # as ids.add(None) does, without the call
        else:
            ids.add(msg_id)
        if self._keys is not None:
            self._keys.append(key)
        elif key is not None:
            self._keys = [None] * (len(self._time) - 1)
            self._keys.append(key)
        if detail is not None:
            self._add_detail(detail)

    def _new_kind(self, component: str, event: str, topic: str | None) -> int:
        kind = self._kinds[(component, event, topic)] = len(self._triples)
        self._triples.append((component, event, topic))
        if kind == 2**16 - 1:  # more triples than 2 bytes can number: widen the column once
            self._widen("_kind")
        return kind

    def _widen(self, name: str) -> None:
        setattr(self, name, array("i", getattr(self, name)))
        self._fast = (self._time.append, self._kind.append, self._partition.append, self._offset.append,
                      self._ids)

    def _add_detail(self, detail: Any) -> None:
        # details repeat (an error's name, a batch size): each distinct one is kept once, by code
        row = len(self._time) - 1
        self._detail_at.append(row)
        try:
            key = (type(detail), detail)
            code = self._detail_codes.get(key)
        except TypeError:  # unhashable: kept as it is, beside the codes
            self._detail_rows[row] = detail
            self._details.append(-2)
            return
        if code is None:
            code = self._detail_codes[key] = len(self._detail_values)
            self._detail_values.append(detail)
        self._details.append(code)

    def __len__(self) -> int:
        return len(self._time)

    def _codes(self, name: str, rows: np.ndarray | None = None) -> tuple[np.ndarray, list[Any]]:
        """A coded column (of the rows in the mask ``rows``): per row an index into the returned
        list of names (None included)."""
        which = self.CODED.index(name)
        names = list(dict.fromkeys(t[which] for t in self._triples))
        lookup = np.array([names.index(t[which]) for t in self._triples] or [0], dtype=np.int32)
        kinds = self._kinds_array()
        return lookup[kinds if rows is None else kinds[rows]], names

    def categorical(self, name: str, rows: np.ndarray | None = None) -> pd.Categorical:
        """A name column (component, event or topic) of every row or of the mask ``rows``, as a
        Categorical: small integer codes, no string per row."""
        codes, names = self._codes(name, rows)
        # categories in the order the names first appeared, as groupby and plots show them
        seen = set(np.unique(codes).tolist())
        used = [c for c in range(len(names)) if names[c] is not None and c in seen]
        remap = np.full(len(names) + 1, -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        return pd.Categorical.from_codes(remap[codes], categories=[names[c] for c in used])

    def array(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """One column as a numpy array (names decoded to objects), of every row or of the boolean mask ``rows``.

        ``msg_id`` comes as int64 (:data:`NO_ID` for None) while every id is an int.
        """
        n = len(self)
        if name in self.CODED:
            codes, names = self._codes(name, rows)
            decoded = np.empty(len(names), dtype=object)
            decoded[:] = names
            return decoded[codes]
        if name == "msg_id":
            out = self._ids.to_numpy(objects=not self._ids.ints)
        elif name == "key":
            out = np.empty(n, dtype=object)
            if self._keys is not None:
                out[:] = self._keys
        elif name == "detail":
            out = np.empty(n, dtype=object)
            if len(self._details):
                values = np.empty(len(self._detail_values) + 2, dtype=object)  # code -2 ends as None
                values[:len(self._detail_values)] = self._detail_values
                out[np.frombuffer(self._detail_at, dtype=np.int32)] = values[np.frombuffer(self._details, dtype=np.int32)]
                for row, detail in self._detail_rows.items():
                    out[row] = detail
        else:
            raw = {"time": self._time, "partition": self._partition, "offset": self._offset}[name]
            dtype = {"d": np.float64, "h": np.int16, "i": np.int32}[raw.typecode]
            out = np.frombuffer(raw, dtype=dtype) if n else np.zeros(0, dtype)
        return out if rows is None else out[rows]

    def column(self, name: str) -> list[Any]:
        """One column as a plain list, names decoded and missing ids as None (row order kept)."""
        if name not in COLUMNS:
            from .errors import ConfigError

            raise ConfigError("name", name, COLUMNS)
        values = self.array(name)
        if name == "msg_id" and values.dtype != object:
            return [None if v == NO_ID else int(v) for v in values.tolist()]
        return values.tolist()

    def rows_of(self, events: Iterable[str]) -> np.ndarray:
        """A boolean mask of the rows whose event is one of ``events``."""
        wanted = set(events)
        hit = np.array([t[1] in wanted for t in self._triples] or [False])
        return hit[self._kinds_array()]

    def _kinds_array(self) -> np.ndarray:
        return np.frombuffer(self._kind, dtype=np.uint16 if self._kind.typecode == "H" else np.int32) \
            if len(self) else np.zeros(0, np.int32)

    def to_frame(self) -> pd.DataFrame:
        """The trace as a DataFrame with the columns in :data:`COLUMNS`, in the order rows were written."""
        if self._frame is None or self._frame_rows != len(self):
            data: dict[str, Any] = {}
            for name in COLUMNS:
                if name in self.CODED:
                    data[name] = self.categorical(name)
                elif name == "msg_id":
                    data[name] = self._ids.to_numpy()
                elif name in ("partition", "offset"):
                    data[name] = self.array(name).astype(np.int64)
                elif name == "time":
                    data[name] = self.array(name).copy()
                else:
                    data[name] = self.array(name)
            self._frame = pd.DataFrame(data, columns=list(COLUMNS), copy=False)
            self._frame_rows = len(self)
        return self._frame


def columns(trace: "Trace | pd.DataFrame", names: Sequence[str], events: str | Iterable[str] | None = None,
            with_id: bool = False) -> tuple[np.ndarray, ...]:
    """Some columns of some rows as numpy arrays, from a :class:`Trace` or its DataFrame alike.

    ``events`` keeps the rows of those events (default: every row); ``with_id`` keeps only
    rows that carry a message id. Name columns (component, event, topic) come as a
    ``pd.Categorical``, the others as arrays (``msg_id`` as int64 while every id is an int). Checkers use it so that a report can be computed from
    the compact columns without building the whole DataFrame.
    """
    if isinstance(events, str):
        events = [events]
    if isinstance(trace, Trace):
        rows = trace.rows_of(events) if events is not None else None
        out = [trace.categorical(n, rows) if n in Trace.CODED else trace.array(n, rows) for n in names]
        if with_id:  # selected first, then filtered: no whole-trace temporaries
            ids = out[names.index("msg_id")] if "msg_id" in names else trace.array("msg_id", rows)
            keep = (ids != NO_ID) if ids.dtype == np.int64 else pd.notna(ids)
            if not keep.all():
                out = [a[keep] for a in out]
        return tuple(out)
    rows = trace["event"].isin(list(events)).to_numpy() if events is not None else np.ones(len(trace), dtype=bool)
    if with_id:
        rows = rows & trace["msg_id"].notna().to_numpy()
    return tuple(pd.Categorical(trace[n].to_numpy()[rows]) if n in Trace.CODED else trace[n].to_numpy()[rows]
                 for n in names)
