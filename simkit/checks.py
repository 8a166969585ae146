"""Checkers: pure functions that read a trace and name what went wrong.

Each accepts a trace as a DataFrame or as the :class:`~simkit.trace.Trace` itself (read
column by column, without building the DataFrame) and returns a :class:`Check`: whether the run is valid for that property, how many
anomalies it found, and the first few message ids, so a learner can look them up in
the trace (``trace[trace.msg_id == "..."]``). Nothing here looks at simulator state;
everything comes from the trace rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .trace import Trace, columns

__all__ = ["Check", "duplicates", "lag", "latencies", "lost", "out_of_order"]

EXAMPLES = 5


@dataclass(frozen=True)
class Check:
    """The verdict of one checker: ``valid`` is True when no anomaly was found."""

    name: str
    count: int
    examples: tuple
    detail: str = ""

    @property
    def valid(self) -> bool:
        return self.count == 0

    def __str__(self) -> str:
        verdict = "ok" if self.valid else f"{self.count} found, e.g. {list(self.examples)}"
        return f"{self.name}: {verdict}" + (f" ({self.detail})" if self.detail else "")


def _ids(trace: pd.DataFrame | Trace, events: str | Sequence[str]) -> pd.Series:
    """The message ids of the rows with these events, None dropped (only that column is read)."""
    return pd.Series(columns(trace, ("msg_id",), events, with_id=True)[0])


def lost(trace: pd.DataFrame | Trace, produced: str | Sequence[str] = "send",
         delivered: str | Sequence[str] = "processed") -> Check:
    """Messages with a ``produced`` row and no ``delivered`` row: they exist, and nobody handled them."""
    made = _ids(trace, produced).drop_duplicates()
    missing = made[~made.isin(_ids(trace, delivered))].tolist()
    return Check("lost", len(missing), tuple(missing[:EXAMPLES]),
                 f"{len(made)} produced, never reached {delivered!r}")


def _dense(*arrays: np.ndarray) -> int:
    """The size of a table indexed by message id that holds every id of ``arrays``, or 0.

    Numbered messages (ids 0, 1, 2, ...) are matched by such a table, without hashing
    or sorting: a fraction of the memory, which matters for a million messages.
    """
    if not all(a.dtype == np.int64 and len(a) for a in arrays):
        return 0
    low, high = min(int(a.min()) for a in arrays), max(int(a.max()) for a in arrays)
    return high + 1 if low >= 0 and high < 4 * max(len(a) for a in arrays) + 1024 else 0


def duplicates(trace: pd.DataFrame | Trace, event: str | Sequence[str] = "processed") -> Check:
    """Messages with more than one ``event`` row (processed, published or applied twice or more).

    ``count`` is the number of such messages; ``detail`` gives the extra executions.
    """
    ids = _ids(trace, event)
    if _dense(ids.to_numpy()):
        counts = np.bincount(ids.to_numpy())
        dup = pd.Series(counts[counts > 1], index=np.flatnonzero(counts > 1))
    else:
        counts = ids.value_counts(sort=False)
        dup = counts[counts > 1]
    examples = ids[ids.isin(dup.index)].drop_duplicates().head(EXAMPLES).tolist()
    extra = int((dup - 1).sum())
    return Check("duplicates", int(len(dup)), tuple(examples), f"{extra} extra executions of {event!r}")


def out_of_order(trace: pd.DataFrame, event: str = "processed", sent: str = "send") -> Check:
    """Per-key inversions: a message handled (for the first time) after a later message of its key.

    The intended order of a key is the order of its ``sent`` rows. Redeliveries are
    left to :func:`duplicates`; only each message's first ``event`` counts here.
    ``count`` is the number of messages that arrived behind a later one of their key.
    """
    sends = trace[(trace["event"] == sent) & trace["key"].notna()][["key", "msg_id"]].drop_duplicates("msg_id")
    if sends.empty:
        return Check("out_of_order", 0, (), "no keyed messages")
    rank = pd.Series(np.arange(len(sends)), index=sends["msg_id"].to_numpy())
    seen = trace[(trace["event"] == event) & trace["msg_id"].isin(rank.index)][["key", "msg_id"]]
    seen = seen.drop_duplicates("msg_id")
    r = rank.reindex(seen["msg_id"].to_numpy()).to_numpy()
    frame = pd.DataFrame({"key": seen["key"].to_numpy(), "rank": r, "msg_id": seen["msg_id"].to_numpy()})
    running_max = frame.groupby("key", sort=False)["rank"].cummax()
    prev_max = running_max.groupby(frame["key"], sort=False).shift(fill_value=-1)
    bad = frame[frame["rank"] < prev_max]
    return Check("out_of_order", int(len(bad)), tuple(bad["msg_id"].head(EXAMPLES)),
                 f"{frame['key'].nunique()} keys checked")


def _first(ids: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each id once, in the order ids first appear, with the time of that first row."""
    size = _dense(ids)
    if size:
        at = np.full(size, len(ids), dtype=np.int64)
        at[ids[::-1]] = np.arange(len(ids) - 1, -1, -1)  # written last to first: the first row wins
        first = at[at < len(ids)]
        first.sort()
    else:
        first = np.flatnonzero(~pd.Series(ids).duplicated().to_numpy())
    return ids[first], times[first]


def latencies(trace: pd.DataFrame | Trace, start: str = "send", end: str = "processed") -> pd.Series:
    """Per message, ms from its first ``start`` row to its first ``end`` row (messages with both)."""
    ids0, t0 = _first(*columns(trace, ("msg_id", "time"), start, with_id=True))
    ids1, t1 = _first(*columns(trace, ("msg_id", "time"), end, with_id=True))
    size = _dense(ids0, ids1)
    if size:
        began = np.full(size, np.nan)
        began[ids0] = t0
        began = began[ids1]
        both = ~np.isnan(began)
        began = began[both]
    else:
        index0 = pd.Index(ids0)
        both = pd.Index(ids1).isin(index0)
        began = pd.Series(t0, index=index0).reindex(ids1[both]).to_numpy()
    return pd.Series(t1[both] - began, index=pd.Index(ids1[both], name="msg_id"), name="latency_ms")


def lag(trace: pd.DataFrame, topic: str | None = None, by: str = "committed",
        every: float | None = None) -> pd.DataFrame:
    """Consumer lag per partition over time, from the trace.

    ``by="committed"`` is Kafka's definition (log end offset minus the group's committed
    offset, what ``kafka-consumer-groups --describe`` shows); ``by="processed"`` counts
    records appended but not yet handled. Returns columns time (ms), topic, partition,
    lag (records): one row per change, or, with ``every`` (ms), one sample per interval
    (what a lag exporter scraping the group would see).
    """
    if by not in ("committed", "processed"):
        from .errors import ConfigError
        raise ConfigError("by", by, ("committed", "processed"))
    ev = trace["event"]
    keep = np.ones(len(trace), dtype=bool) if topic is None else (trace["topic"] == topic).to_numpy()
    times = trace["time"].to_numpy()
    topic_col = trace["topic"]
    if isinstance(topic_col.dtype, pd.CategoricalDtype):
        cats = list(topic_col.cat.categories)
        topics = topic_col.cat.codes.to_numpy()
    else:
        cats = None
        topics = topic_col.to_numpy()
    parts = trace["partition"].to_numpy()
    app = keep & (ev == "append").to_numpy()
    if by == "committed":
        mark = keep & (ev == "commit").to_numpy()
        values = trace["offset"].to_numpy()
    else:
        mark = keep & (ev == "processed").to_numpy()
        first = ~pd.Series(trace["msg_id"].to_numpy()[mark]).duplicated().to_numpy()
        idx = np.flatnonzero(mark)[first]
        mark = np.zeros(len(trace), dtype=bool)
        mark[idx] = True
        values = None
    frames = []
    pairs = sorted(set(zip(topics[app].tolist(), parts[app].tolist())), key=lambda tp: (str(tp[0]), tp[1]))
    for t, p in pairs:
        sel_a = app & (topics == t) & (parts == p)
        sel_m = mark & (topics == t) & (parts == p)
        end_t = times[sel_a]
        pos_t = times[sel_m]
        pos_v = values[sel_m] if values is not None else np.arange(1, len(pos_t) + 1)
        if every is None:
            at = np.unique(np.concatenate([end_t, pos_t]))
        else:
            stop = max(end_t.max(initial=0.0), pos_t.max(initial=0.0))
            at = np.arange(0.0, stop + every, every)
        end = np.searchsorted(end_t, at, side="right")
        k = np.searchsorted(pos_t, at, side="right")
        pos = pos_v[np.maximum(k - 1, 0)] * (k > 0) if len(pos_v) else np.zeros(len(at), dtype=np.int64)
        name = cats[t] if cats is not None else t
        frames.append(pd.DataFrame({"time": at, "topic": name, "partition": p, "lag": (end - pos).astype(int)}))
    if not frames:
        return pd.DataFrame({"time": pd.Series(dtype=float), "topic": pd.Series(dtype=object),
                             "partition": pd.Series(dtype=int), "lag": pd.Series(dtype=int)})
    return pd.concat(frames, ignore_index=True)
