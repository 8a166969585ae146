"""Rebalances you can see: a group that scales out and a member that restarts while records flow.

Records arrive about every 4 ms; two consumers share the ``partitions``; at
``scale_out_at`` ms a third member joins, and at ``restart_at`` ms ``consumer-0`` crashes
and comes back ``restart_delay`` ms later. Each change of membership is a rebalance,
and what a rebalance costs depends on the protocol:

=========================  =============================================================
``"eager"``                the classic protocol (``range``): every member gives up all its
                           partitions at its next poll and waits until every member has
                           rejoined; nothing is consumed in between (stop the world). The
                           restarted member is a new member, and the group waits for the
                           old one's ``session_timeout`` before it can settle.
``"cooperative_sticky"``   KIP-429: members keep their partitions while they rejoin, give
                           up only those that move, and a second round hands those over;
                           only the moving partitions stand still.
``"static_membership"``    KIP-345 (``group.instance.id``) with the eager protocol: the
                           restarted member is known by its instance id and gets its
                           partitions back at once, with no rebalance, as long as it
                           returns within ``session_timeout``.
=========================  =============================================================

``max_poll_interval`` (``max.poll.interval.ms``, off unless given) with a slow record
(``slow_record`` takes ``slow_time`` ms more, the first time only) shows a zombie: the member that handles it
misses its poll deadline, is evicted, its partitions move and the record is delivered
to the new owner while the zombie is still finishing it; the zombie's commit is then
refused (stale generation) and counted in ``commits_refused``.

Every member commits with ``commit`` (librdkafka's ``"store_offsets"`` by default: the
handler stores each offset after its work, the timer commits, and revocation commits
what was stored).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..distributions import exponential
from ..glossary import PERCENTILES, register
from ..groups import ConsumerGroup
from ..params import Params, check_steps, choice, count, distribution, ms, optional_ms
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import MAX_DRAIN_MS, client_param, latency_fields, until_drained
from .registry import scenario

__all__ = ["DESIGNS", "RebalanceParams", "partition_pauses", "rebalance"]

DESIGNS: tuple[str, ...] = ("eager", "cooperative_sticky", "static_membership")
COMMITS: tuple[str, ...] = ("store_offsets", "after_processing", "auto_on_poll", "auto")

TOPIC = "orders"
GROUP = "billing"

register("rebalances", "rebalances", "generations the consumer group went through after its first")
register("commits_refused", "commits", "offset commits the group refused from a stale generation (a zombie's, "
                                      "or one sent while the group rebalanced)")
register("pause_total", "ms", "summed over partitions: time a partition had no consumer because of a rebalance "
                              "or a crash")
register("pause_max", "ms", "the longest time one partition had no consumer")


@dataclass(frozen=True)
class RebalanceParams(Params):
    """The parameters of :func:`rebalance` (times in ms)."""

    messages: int = count(1000, high=100_000, doc="records the producer sends")
    partitions: int = count(6, high=64, doc="partitions of the topic")
    arrival_interval: Any = distribution(exponential(4), doc="time between two sends")
    processing_time: Any = distribution(10, doc="the handler's work per record")
    max_poll_records: int = count(20, high=10_000, doc="records one poll returns at most (max.poll.records)")
    commit: str = choice("store_offsets", COMMITS, doc="every member's commit policy")
    auto_commit_interval: float = ms(100, strict=True, doc="the auto-commit timer (auto.commit.interval.ms)")
    session_timeout: float = ms(1000, strict=True, doc="how long a silent member stays in the group")
    scale_out_at: float = ms(1000, doc="when the third member joins")
    restart_at: float = ms(2500, doc="when consumer-0 crashes")
    restart_delay: Any = distribution(300, doc="how long consumer-0 stays down")
    max_poll_interval: float | None = optional_ms(None, low=1, doc="max.poll.interval.ms (None: no deadline)")
    slow_record: int = count(150, low=0, high=100_000, doc="the message number that takes slow_time more")
    slow_time: float = ms(0, doc="the extra work of slow_record")
    max_time: float = ms(600_000, strict=True, high=MAX_DRAIN_MS, doc="the run stops here if the group has not drained")
    client: str = client_param()

    def check(self) -> None:
        check_steps("auto_commit_interval", self.auto_commit_interval, self.max_time)


FIELDS = ("produced", "processed", "lost", "duplicates", "extra_copies", "crashes", "rebalances", "pause_total",
          "pause_max", "commits", "commits_refused", *(f"latency_{s}" for s in PERCENTILES), "duration", "drained")


@scenario("rebalance", designs=DESIGNS, params=RebalanceParams, fields=FIELDS, lesson="15")
def rebalance(p: RebalanceParams) -> RunResult:
    """Scale a consumer group out and restart a member while records flow, rebalancing by ``design``.

    ``design`` is one of :data:`DESIGNS`. Report fields (see :mod:`simkit.glossary`):
    ``produced``, ``processed``, ``lost``, ``duplicates`` (records handled more than
    once), ``extra_copies``, ``crashes``, ``rebalances`` (generations after the first),
    ``pause_total`` and ``pause_max`` (ms partitions spent without a consumer, from
    :func:`partition_pauses`), ``commits``, ``commits_refused`` (stale-generation commits:
    a zombie's), ``latency_*`` (ms from send to the first handling), ``duration`` and
    ``drained``. Checks: ``lost`` and ``duplicates``.
    """
    world = World(p.seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, p.partitions)
    producer = Producer(world, broker, "producer", client=p.client)
    assignor = "cooperative_sticky" if p.design == "cooperative_sticky" else "range"
    group = ConsumerGroup(world, broker, GROUP, assignor=assignor, session_timeout=p.session_timeout)

    stalled: list[int] = []  # the stall strikes once, like a long GC pause or a slow call

    def handle(record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        if record.msg_id == p.slow_record and p.slow_time and not stalled:
            stalled.append(record.msg_id)
            yield ctx.env.timeout(p.slow_time)
        ctx.record("side_effect", record, detail="billed")
        if p.commit == "store_offsets":
            ctx.store_offsets(record)

    members = [
        Consumer(world, broker, f"consumer-{i}", TOPIC, handle, client=p.client, group=group, commit=p.commit,
                 max_poll_records=p.max_poll_records, processing_time=p.processing_time,
                 auto_commit_interval=p.auto_commit_interval, auto_offset_reset="earliest",
                 max_poll_interval=p.max_poll_interval, restart_delay=p.restart_delay, start=start,
                 group_instance_id=f"host-{i}" if p.design == "static_membership" else None)
        for i, start in enumerate((0.0, 0.0, p.scale_out_at))
    ]
    members[0].crash_at(p.restart_at)

    sent = env.event()
    env.process(_orders(world, producer, sent, p))
    drained = until_drained(world, broker, group, members, sent)
    world.run(until=drained | env.timeout(p.max_time))

    trace = world.trace.to_frame()
    lost = checks.lost(trace, delivered="side_effect")
    dup = checks.duplicates(trace, "side_effect")
    lat = checks.latencies(trace, "send", "side_effect")
    pauses = partition_pauses(trace, end=float(env.now))
    events = trace["event"]
    fields: dict[str, float] = dict(
        produced=int(trace.loc[events == "send", "msg_id"].nunique()),
        processed=int(lat.size),
        lost=lost.count,
        duplicates=dup.count,
        extra_copies=int((events == "side_effect").sum()) - int(lat.size),
        crashes=int((events == "crash").sum()),
        rebalances=max(group.generation - 1, 0),
        pause_total=float(pauses.sum()),
        pause_max=float(pauses.max()) if len(pauses) else 0.0,
        commits=int((events == "commit").sum()),
        commits_refused=int(((events == "commit_failed") & trace["detail"].astype(str).str.contains("stale")).sum()),
        **latency_fields(lat),
        duration=float(env.now),
        drained=int(drained.triggered),
    )
    return RunResult("rebalance", p.seed, p.to_dict(), Report(**fields), {"lost": lost, "duplicates": dup}, {},
                     world.trace)


def _orders(world: World, producer: Producer, sent: simpy.Event,
            p: RebalanceParams) -> Generator[simpy.Event, Any, None]:
    rng = world.rng("arrivals")
    for i in range(p.messages):
        yield world.env.timeout(p.arrival_interval.sample(rng))
        producer.send(TOPIC, value="OrderPlaced", key=f"order-{i}", msg_id=i)
    sent.succeed()


_ASSIGN = re.compile(r"^(\S+) gen \d+: (\[.*\])$")
_REPLACES = re.compile(r"^(\S+) replaces (\S+) ")


def partition_pauses(trace: pd.DataFrame, end: float) -> pd.Series:
    """Per partition, the ms it spent with no consumer, read from the trace's group rows.

    A partition pauses when its owner revokes it (a ``revoke`` row) or crashes (a
    ``crash`` row of the consumer whose member owned it), and resumes when an ``assign``
    row gives it to a member, or a static member takes its old place back (a ``join``
    row "... replaces ..."). A pause still open at ``end`` counts up to ``end``.
    """
    owned: dict[str, list[tuple[str, int]]] = {}
    since: dict[tuple[str, int], float] = {}
    total: dict[tuple[str, int], float] = {}

    def resume(parts: list[tuple[str, int]], now: float) -> None:
        for tp in parts:
            if tp in since:
                total[tp] = total.get(tp, 0.0) + now - since.pop(tp)

    rows = trace[trace["event"].isin(["assign", "revoke", "crash", "join"])]
    for now, component, event, detail in zip(rows["time"], rows["component"], rows["event"], rows["detail"]):
        if event == "assign":
            m = _ASSIGN.match(str(detail))
            if m:
                parts = ast.literal_eval(m.group(2))
                owned[m.group(1)] = parts
                resume(parts, now)
        elif event == "revoke":
            for tp in ast.literal_eval(str(detail)):
                since.setdefault(tp, now)
        elif event == "crash":
            for member in [m for m in owned if m.rsplit(".", 1)[0] == component]:
                for tp in owned.pop(member):
                    since.setdefault(tp, now)
        else:
            m = _REPLACES.match(str(detail))
            if m:
                old_parts = next((parts for member, parts in owned.items() if member == m.group(2)), None)
                last = [tp for tp, t in since.items() if old_parts is None or tp in old_parts]
                owned[m.group(1)] = old_parts if old_parts is not None else last
                resume(owned[m.group(1)], now)
    resume(list(since), end)
    return pd.Series({f"{t}-{p}": v for (t, p), v in sorted(total.items())}, dtype=float)
