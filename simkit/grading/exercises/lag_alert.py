"""Exercise 10: a consumer-lag alert (lessons 08 and 03), graded on catching a stall and on never paging falsely.

The learner's ``page(m)`` is the alert rule. Every :data:`SAMPLE_MS` of simulated time
the grader samples the billing group's one partition, as a lag exporter does, and
calls ``page(m)`` with:

* ``m.now`` (ms);
* ``m.lag``: records behind, the log end offset minus the group's committed offset
  (what ``kafka-consumer-groups --describe`` shows as LAG);
* ``m.lag_ms``: the time lag, how long the oldest record not yet committed has been
  waiting (0 when the lag is 0), as Burrow or a time-lag exporter reports it;
* ``m.since_commit_ms``: ms since the committed offset last moved.

``page`` returns ``True`` to page. A page is an ``alert`` row in the trace, written once
per crossing (a ``resolved`` row when ``page`` says ``False`` again).

Cases (the workload's ``kind``): ``"stall"`` (5 payments a second, the consumer's
database call hangs at ``stall_at`` ms and never returns: the consumer is alive but
stuck; ``stall_within=(lo, hi)`` instead draws ``stall_at`` from the run's seed, uniformly
between ``lo`` and ``hi`` ms, so that no rule keyed to the clock catches every stall),
``"trickle_stall"`` (one payment every 15 s, the same hang), ``"burst"`` (a healthy
consumer gets 3,000 payments at once on top of its steady traffic and works through
them at full speed; after the 500th payment, or with ``burst_within=(lo, hi)`` at the
first payment after a time drawn from the run's seed between ``lo`` and ``hi`` ms) and
``"idle"`` (traffic stops for good after a minute; the consumer is healthy with nothing
to do). A stall must page within
:data:`CATCH_MS`; a healthy consumer must never page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...broker import Broker
from ...consumer import Consumer
from ...producer import Producer
from ..faults import LearnerFault, call
from ..spec import Anomaly, Case, Criterion, Exercise, no_rows, register

__all__ = ["CATCH_MS", "EXERCISE", "KINDS", "SAMPLE_MS", "Metrics", "anomalies", "explain", "simulate"]

TOPIC, GROUP = "payments", "billing"
SAMPLE_MS = 5_000
CATCH_MS = 60_000
END_MS = 300_000
#: ms of database work per payment: a burst of 3,000 takes the healthy consumer about 18 s
WORK_MS = 5
KINDS: tuple[str, ...] = ("stall", "trickle_stall", "burst", "idle")


class Metrics:
    """One sample as ``page`` sees it: ``now``, ``lag`` (records), ``lag_ms`` and ``since_commit_ms``."""

    __slots__ = ("lag", "lag_ms", "now", "since_commit_ms")

    def __init__(self, now: float, lag: int, lag_ms: float, since_commit_ms: float):
        self.now, self.lag, self.lag_ms, self.since_commit_ms = now, lag, lag_ms, since_commit_ms

    def __repr__(self) -> str:
        return (f"Metrics(now={self.now:g}, lag={self.lag}, lag_ms={self.lag_ms:g}, "
                f"since_commit_ms={self.since_commit_ms:g})")


def _stall_at(world: Any, wl: Mapping[str, Any]) -> float:
    """When the database call hangs: ``stall_at``, or a time drawn from the seed within ``stall_within``."""
    if "stall_within" not in wl:
        return float(wl.get("stall_at", 120_000))
    lo, hi = (float(t) for t in wl["stall_within"])
    return world.rng("stall").uniform(lo, hi)


def simulate(run: Any) -> dict:
    """Run one case's traffic through one consumer, sample it every 5 s and ask the learner's ``page``."""
    world, wl = run.world, run.workload
    env = world.env
    kind = str(wl.get("kind", "stall"))
    stall_at = _stall_at(world, wl) if kind.endswith("stall") else None
    burst_at = world.rng("burst").uniform(*(float(t) for t in wl["burst_within"])) \
        if kind == "burst" and "burst_within" in wl else None
    broker = Broker(world)
    log = broker.create_topic(TOPIC, 1)[0]
    producer = Producer(world, broker, "payments", partitioner="key")
    stuck: dict[str, Any] = {}
    burst: dict[str, float] = {}

    def handler(rec: Any) -> Any:
        if stall_at is not None and env.now >= stall_at and not stuck:
            stuck["at"] = env.now  # the database call hangs: this event is never triggered
            world.record("billing", "stalled", msg_id=rec.msg_id, detail="database call never returned")
            yield env.event()
        yield env.timeout(WORK_MS)

    consumer = Consumer(world, broker, "billing", TOPIC, handler, group=GROUP, commit="after_processing",
                        processing_time=1, auto_offset_reset="earliest", session_timeout=END_MS * 2)

    def traffic() -> Any:
        gaps, n = world.rng("arrivals"), 0
        every = 15_000 if kind == "trickle_stall" else 200
        while env.now < END_MS:
            yield env.timeout(gaps.expovariate(1 / every))
            if kind == "idle" and env.now > 60_000:
                return
            producer.send(TOPIC, "PaymentReceived", key=f"user-{n % 7}", msg_id=f"p-{n}")
            n += 1
            if kind == "burst" and not burst and (n == 500 if burst_at is None else env.now >= burst_at):
                burst["at"] = env.now  # once
                for _ in range(3000):
                    producer.send(TOPIC, "PaymentReceived", key=f"user-{n % 7}", msg_id=f"p-{n}")
                    n += 1

    page = run.learner.fresh()
    last = {"offset": None, "moved": 0.0, "firing": False}

    def sample() -> Any:
        while env.now <= END_MS:
            committed = consumer.group.committed_offset(TOPIC, 0) or 0
            if committed != last["offset"]:
                last["offset"], last["moved"] = committed, env.now
            lag = log.end_offset - committed
            lag_ms = env.now - log.records[committed].timestamp if lag > 0 else 0.0
            m = Metrics(env.now, lag, lag_ms, env.now - last["moved"])
            run.faults.current = repr(m)
            said = call(page, run.faults, "page", m)
            if not isinstance(said, bool):
                raise LearnerFault(f"page returned {said!r} for {m!r}: return True (page) or False")
            if said != last["firing"]:
                last["firing"] = said
                world.record("monitor", "alert" if said else "resolved", detail=repr(m))
            yield env.timeout(SAMPLE_MS)

    env.process(traffic())
    env.process(sample())
    world.run(until=END_MS + 1, wall_limit=None)
    return {"kind": kind, "stall_at": stuck.get("at"), "burst_at": burst.get("at")}


def anomalies(trace: pd.DataFrame, state: dict, workload: Mapping[str, Any]) -> dict[str, Anomaly]:
    """A stall not paged within 60 s, and pages while the consumer was healthy (busy or idle)."""
    alerts = trace[trace["event"] == "alert"]
    stall = state["stall_at"]
    healthy = alerts if stall is None else alerts[alerts["time"] < stall]
    out: dict[str, Anomaly] = {}
    false_name = "false_page_idle" if state["kind"] == "idle" else "false_page_busy"
    out[false_name] = Anomaly(len(healthy), (), f"page() paged a healthy consumer ({state['kind']} case) at "
                                                f"{healthy['time'].iloc[0] / 1000:g} s: {healthy['detail'].iloc[0]}"
                              if len(healthy) else "")
    if state["kind"].endswith("stall"):
        if stall is None:
            out["missed_stall"] = Anomaly(1, (), "grader error: the consumer never stalled")
        else:
            flips = trace[trace["event"].isin(["alert", "resolved"]) & (trace["time"] < stall)]
            firing = len(flips) and flips["event"].iloc[-1] == "alert"  # already paging when it stalled
            after = alerts[alerts["time"] >= stall]
            caught = stall if firing else float(after["time"].iloc[0]) if len(after) else None
            if caught is None or caught - stall > CATCH_MS:
                when = "never paged" if caught is None else f"paged only {(caught - stall) / 1000:g} s later"
                out["missed_stall"] = Anomaly(1, (), f"the consumer stalled at {stall / 1000:g} s "
                                                     f"({state['kind']} case) and page() {when}")
    return out


def explain(name: str, anomaly: Anomaly, run: Any) -> str:
    """Feedback naming the anomaly and why the learner's rule met it."""
    kind = run.workload.get("kind")
    if name == "missed_stall" and "later" in anomaly.detail:
        why = ("your rule's threshold is reached only after the stall has gone on for more than 60 s: a stall must "
               "page within 60 s of its start, and samples come every 5 s")
        if "stall_within" in run.workload:
            why += ("; this stall starts at a time drawn from the case's seed, so a rule that waits for a moment on "
                    "the clock (m.now) misses it")
    elif name == "missed_stall":
        why = ("a stuck consumer with little traffic falls only a few records behind, so a threshold in records "
               "must be tiny to see it in time; what grows with the stall whatever the traffic?")
    elif name == "false_page_busy" and kind == "burst":
        why = ("a burst puts a healthy consumer thousands of records and some seconds behind, for about 18 s; "
               "your rule cannot tell that from a stall")
        if "burst_within" in run.workload:
            why += ("; this burst comes at a time drawn from the case's seed, so a rule that mutes itself at a "
                    "moment on the clock (m.now) pages for it")
    elif name == "false_page_busy" and kind == "stall":
        why = ("the page came before the stall began, while the consumer was keeping up with steady traffic: a "
               "few records waiting between two polls is the normal lag of a healthy consumer")
        if "stall_within" in run.workload:
            why += "; this stall starts at a time drawn from the case's seed, not at a fixed moment on the clock"
    elif name == "false_page_busy":
        why = "the consumer was keeping up: with little traffic it commits only when a payment arrives"
    else:
        why = ("with no traffic nothing is committed, and nothing needs to be: a healthy idle consumer has no "
               "lag")
    return f"{anomaly.detail}; {why}"


def draw(fr: Any, ax: Any) -> Any:
    """Records written and the committed offset over time, the pages (red) and the stall (black)."""
    trace = fr.trace
    commits = trace[trace.event == "commit"]
    appends = trace[trace.event == "append"]
    ax.step(appends.time / 1000, range(1, len(appends) + 1), where="post", label="records written")
    ax.step(commits.time / 1000, commits.offset, where="post", label="committed offset")
    for t in trace[trace.event == "alert"].time:
        ax.axvline(t / 1000, color="red", linestyle="--")
    for t in trace[trace.event == "stalled"].time:
        ax.axvline(t / 1000, color="black", linewidth=2, label="consumer stuck")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("offset")
    ax.set_title(fr.label)
    ax.legend()
    return ax


EXERCISE = register(Exercise(
    name="10-lag-alert",
    title="A consumer-lag alert that catches a stall and never pages for a healthy consumer",
    lesson="08-poison-messages-dead-letters-and-replay",
    entry="page",
    component="monitor",
    criteria=(
        Criterion("a stall pages within 60 s", 4, ("missed_stall",), scope="baseline"),
        Criterion("a busy consumer never pages", 3, ("false_page_busy",), scope="baseline"),
        Criterion("an idle consumer never pages", 3, ("false_page_idle",), scope="baseline"),
    ),
    # the steady stall starts between two samples (not on the 5 s grid), so a rule that pages 60 s after the
    # last commit it saw is late, as it would be on a real exporter's clock. The second steady stall is drawn
    # from its seed between 25 s and 55 s: a rule keyed to the clock (``m.now >= X and m.lag > 0``) must have
    # X past the burst (about 100 s to 118 s), so it pages more than 60 s after that stall. The second burst
    # comes at a time drawn from its seed between 20 s and 80 s, so a rule that mutes itself around the first
    # burst's time (``not 90_000 <= m.now <= 135_000``) pages for it
    cases=(Case(0, {"kind": "stall", "stall_at": 122_500}, exhaustive=False, random_runs=0),
           Case(1, {"kind": "trickle_stall"}, exhaustive=False, random_runs=0),
           Case(2, {"kind": "burst"}, exhaustive=False, random_runs=0),
           Case(3, {"kind": "idle"}, exhaustive=False, random_runs=0),
           Case(4, {"kind": "stall", "stall_within": (25_000, 55_000)}, exhaustive=False, random_runs=0),
           Case(5, {"kind": "burst", "burst_within": (20_000, 80_000)}, exhaustive=False, random_runs=0)),
    run_seconds=8.0,
    max_runs=10,
    simulate=simulate,
    anomalies=anomalies,
    explain=explain,
    draw=draw,
    examples=no_rows,
))
