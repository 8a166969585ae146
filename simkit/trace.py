"""The trace: one row for every step that matters, and the only truth checks and plots read.

Rows are appended to plain column lists while the simulation runs (cheap), and
turned into a pandas DataFrame only when a learner or a checker asks for it.

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
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "EVENTS", "Trace"]

COLUMNS: tuple[str, ...] = (
    "time", "component", "event", "topic", "partition", "offset", "key", "msg_id", "detail",
)

#: Event names and what each row means. Scenarios may add their own events; these are the core's.
EVENTS: dict[str, str] = {
    "send": "the application handed a record to a producer (the message now exists)",
    "send_failed": "the producer gave up on the record and told the application (detail: why)",
    "retry": "the producer sends a batch again after an error (detail: the error)",
    "append": "the broker wrote the record to the partition log at this offset",
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
    "restart": "a component came back after a crash",
    "alert": "a monitored metric crossed its alert threshold (detail: metric and value)",
    "resolved": "a monitored metric fell back under its alert threshold",
    "db_commit": "a database transaction committed (detail: the tables it wrote)",
    "db_rejected": "the database refused a commit (detail: why); nothing was written",
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
}


class Trace:
    """An append-only table of trace rows, stored column by column.

    ``record`` is the one way rows get in; ``to_frame`` is the one way they come out.
    """

    __slots__ = ("_cols", "_frame", "_frame_rows", "_appends", "_codes", "_names")

    #: columns with few distinct strings, stored as small integer codes and shown as categoricals
    CODED = ("component", "event", "topic")

    def __init__(self) -> None:
        # numbers in typed arrays (8 bytes a row, no Python object each), names as codes, the rest in lists
        self._cols: tuple[Any, ...] = tuple(
            array("d") if c == "time" else array("q") if c in ("partition", "offset")
            else array("i") if c in self.CODED else []
            for c in COLUMNS
        )
        self._appends = tuple(col.append for col in self._cols)
        self._codes: dict[str | None, int] = {None: -1}
        self._names: list[str] = []
        self._frame: pd.DataFrame | None = None
        self._frame_rows = -1

    def _code(self, name: str | None) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self._names)
            self._names.append(name)  # type: ignore[arg-type]
        return code

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
        a0, a1, a2, a3, a4, a5, a6, a7, a8 = self._appends
        codes = self._codes
        a0(time)
        a1(codes[component] if component in codes else self._code(component))
        a2(codes[event] if event in codes else self._code(event))
        a3(codes[topic] if topic in codes else self._code(topic))
        a4(partition)
        a5(offset)
        a6(key)
        a7(msg_id)
        a8(detail)

    def __len__(self) -> int:
        return len(self._cols[0])

    def column(self, name: str) -> Any:
        """One column as a list or array (names decoded): for checkers that need speed over pandas."""
        col = self._cols[COLUMNS.index(name)]
        if name in self.CODED:
            names = self._names
            return [names[c] if c >= 0 else None for c in col]
        return col

    def to_frame(self) -> pd.DataFrame:
        """The trace as a DataFrame with the columns in :data:`COLUMNS`, in the order rows were written."""
        if self._frame is None or self._frame_rows != len(self):
            data: dict[str, Any] = {}
            for name, col in zip(COLUMNS, self._cols):
                if name in self.CODED:
                    codes = np.frombuffer(col, dtype=np.int32) if len(col) else np.zeros(0, np.int32)
                    used = sorted(set(np.unique(codes).tolist()) - {-1})
                    remap = np.full(len(self._names) + 1, -1, dtype=np.int32)
                    remap[used] = np.arange(len(used), dtype=np.int32)
                    data[name] = pd.Categorical.from_codes(
                        remap[codes], categories=[self._names[c] for c in used])
                elif isinstance(col, array):
                    dtype = np.float64 if name == "time" else np.int64
                    data[name] = np.frombuffer(col, dtype=dtype).copy() if len(col) else np.zeros(0, dtype)
                else:
                    obj = np.empty(len(col), dtype=object)
                    obj[:] = col
                    data[name] = obj
            self._frame = pd.DataFrame(data, columns=list(COLUMNS), copy=False)
            self._frame_rows = len(self)
        return self._frame
