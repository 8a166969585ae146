"""Publishing an event for a database change: dual write, publish then commit, and the outbox.

A sign-up service handles ``messages`` requests arriving as a Poisson stream, one at a
time. Each request creates a user row in the service's database and must tell the
rest of the system with a ``signup-<n>`` event on the broker. The three designs:

``"dual_write"``
    commit the user row, then publish the event and wait for the broker's ack. A
    crash between the two (crash point ``between_commit_and_publish``), or a publish
    that fails after the commit (a broker outage longer than ``publish_timeout``),
    leaves a user nobody hears about: a *lost* event.
``"publish_then_commit"``
    publish first, then commit. A crash between the two
    (``between_publish_and_commit``) or a commit the database refuses (``db_outage``)
    leaves an event about a user that does not exist: a *ghost*.
``"outbox"``
    write the user row and an outbox row in one transaction; a :class:`~simkit.Relay`
    publishes the outbox at least once. Nothing is lost and nothing is a ghost; a relay
    crash after a publish and before its mark (``after_publish``), or a mark the
    database refuses, publishes one event twice: a *duplicate*.

The service's crash points, in code-path order, are :data:`SERVICE_POINTS`;
``crash_rate`` means what it means everywhere in simkit (each request the service
starts handling crashes with that probability at one of its points, chosen
uniformly). A crashed request is answered with an error; the service comes back after
``restart_delay`` ms and goes on with the next request. Under one seed every design
sees the same arrivals and the same crash draws, so they crash on the same requests.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generator

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker
from ..checks import Check
from ..database import Database, Transaction
from ..distributions import exponential, uniform
from ..errors import ClientError, ConfigError, Crash
from ..faults import CrashPlan
from ..glossary import PERCENTILES, register
from ..outbox import Outbox, Relay
from ..params import (
    Params,
    check_steps,
    count,
    distribution,
    ms,
    optional_ms,
    positive,
    probability,
    schedule,
    window,
)
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import client_param, latency_fields
from .registry import scenario

__all__ = [
    "DESIGNS", "RELAY_POINTS", "SERVICE_POINTS", "PublishParams", "SignupService", "failed_requests", "finish",
    "ghost_events", "lost_events", "pending_events", "publish", "signups",
]

DESIGNS = ("dual_write", "publish_then_commit", "outbox")

#: The sign-up service's crash points per design, in code-path order.
SERVICE_POINTS: dict[str, tuple[str, ...]] = {
    "dual_write": ("before_commit", "between_commit_and_publish", "after_publish"),
    "publish_then_commit": ("before_publish", "between_publish_and_commit", "after_commit"),
    "outbox": ("before_commit", "after_commit"),
}
RELAY_POINTS = Relay.POINTS

TOPIC = "user_signed_up"
USERS = "app.users"
OUTBOX = "app.outbox"


@dataclass(frozen=True)
class PublishParams(Params):
    """The parameters of :func:`publish` (times in ms)."""

    crash_rate: float = probability(0.0, doc="per request: crash at one of the service's points")
    messages: int = count(200, high=100_000, doc="sign-up requests")
    arrival_rate: float = positive(0.02, high=10.0, doc="requests per ms (0.02 is 20 a second)")
    crash_schedule: tuple = schedule(sorted({p for ps in SERVICE_POINTS.values() for p in ps}),
                                     doc="exact service crashes as (n, point)")
    relay_crash_rate: float = probability(0.0, doc="per outbox row: crash at one of the relay's points")
    relay_crash_schedule: tuple = schedule(RELAY_POINTS, doc="exact relay crashes as (n, point)")
    relay_dies_at: float | None = optional_ms(None, doc="the relay stops for good at this time")
    db_outage: tuple[float, float] | None = window(doc="(start, duration) of a database outage")
    broker_outage: tuple[float, float] | None = window(doc="(start, duration) of a broker outage")
    alert_lag: float | None = positive(50, optional=True, doc="outbox rows waiting that raise an alert")
    alert_age: float | None = positive(2000, optional=True, doc="age (ms) of the oldest row that raises an alert")
    service_time: Any = distribution(exponential(2), doc="the service's work per request")
    network_latency: Any = distribution(uniform(1, 3), doc="one way between the producer and the broker")
    commit_latency: Any = distribution(2, doc="a database commit")
    publish_timeout: float = ms(2000, low=1, doc="the producer's request and delivery timeout")
    restart_delay: Any = distribution(200, doc="the service's restart after a crash")
    relay_restart_delay: Any = distribution(500, doc="the relay's restart after a crash")
    poll_interval: float = ms(100, low=1, doc="the relay polls the outbox this often")
    batch_size: int = count(20, high=10_000, doc="outbox rows the relay takes per poll")
    monitor_interval: float = ms(100, low=1, doc="the outbox monitors sample this often")
    drain: float = ms(10_000, doc="after the last answer, wait this long for the outbox to empty")
    client: str = client_param()

    def check(self) -> None:
        points = SERVICE_POINTS[self.design]
        for n, point in self.crash_schedule:
            if point not in points:
                raise ConfigError("crash_schedule", (n, point), f"(n, point) with point one of {list(points)} "
                                                                f"for design {self.design!r}")
        span = self.messages / self.arrival_rate + self.drain
        check_steps("monitor_interval", self.monitor_interval, span)
        check_steps("poll_interval", self.poll_interval, span)


FIELDS = (
    "requests", "succeeded", "failed_requests", "committed", "published", "lost", "ghosts", "duplicates",
    "extra_copies", "pending", "crashes", "relay_crashes", "alerts", "first_alert_at", "outbox_lag_max",
    "outbox_age_max", *(f"latency_{s}" for s in PERCENTILES), *(f"delivery_{s}" for s in PERCENTILES),
    "last_request_at", "duration",
)
register("committed", "users", "state changes the database committed (users created)")
register("last_request_at", "ms", "when the last request arrived")


@scenario("publish", designs=DESIGNS, params=PublishParams, fields=FIELDS, lesson="03",
          legacy_positional=("design", "crash_rate", "messages", "seed"))
def publish(p: PublishParams) -> RunResult:
    """Run the sign-up service with one publishing ``design``; see the module docs for the story.

    Times are in ms; ``arrival_rate`` is requests per ms (0.02 is 20 a second).
    ``crash_schedule`` places service crashes exactly, as ``(n, point)``: crash at
    ``point`` while handling the ``n``-th request (from 0). The relay parameters
    (``relay_crash_rate``, ``relay_crash_schedule`` over rows handled, ``relay_dies_at``,
    ``relay_restart_delay``, ``poll_interval``, ``batch_size``) and the alert thresholds
    (``alert_lag`` rows, ``alert_age`` ms, sampled every ``monitor_interval`` ms) apply to
    the outbox design and are ignored by the others. ``db_outage`` and
    ``broker_outage`` are ``(start, duration)`` windows. The producer gives up on a
    record after ``publish_timeout`` ms (its ``delivery.timeout.ms``). After the last
    answer the run waits up to ``drain`` ms for the outbox to empty.

    Report fields (see :mod:`simkit.glossary`): ``requests``, ``succeeded``,
    ``failed_requests`` (answered with an error), ``committed`` (users created),
    ``published`` (events in the broker), ``lost`` (users whose event never reached the
    broker and is not waiting in an outbox), ``ghosts`` (events for users never
    created), ``duplicates`` (events in the broker more than once), ``extra_copies``
    (the extra copies), ``pending`` (events still waiting in the outbox when the run
    ended), ``crashes`` and ``relay_crashes``, ``alerts`` and ``first_alert_at`` (ms, NaN
    without one), ``outbox_lag_max`` (rows) and ``outbox_age_max`` (ms), ``latency_*``
    (request to successful answer, ms), ``delivery_*`` (request to the event's first
    append, ms), ``last_request_at`` and ``duration`` (ms). Checks: ``lost``, ``ghosts``,
    ``duplicates``, ``pending``, ``failed_requests``, each with example event ids.
    Series: ``outbox_lag`` and ``outbox_age`` (empty for designs without an outbox).
    """
    # build: a broker, the service's database, one producer
    world = World(p.seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 1)
    db = Database(world, commit_latency=p.commit_latency)
    db.create_table(USERS)
    producer = Producer(world, broker, "producer", client=p.client, latency=p.network_latency,
                        request_timeout=p.publish_timeout, delivery_timeout=p.publish_timeout)
    if p.db_outage:
        db.outage(*p.db_outage)
    if p.broker_outage:
        broker.outage(*p.broker_outage)

    # wire the design
    outbox: Outbox | None = None
    monitors = {}
    if p.design == "outbox":
        outbox = Outbox(db, OUTBOX)
        Relay(world, outbox, producer, poll_interval=p.poll_interval, batch_size=p.batch_size,
              crash_rate=p.relay_crash_rate, crash_schedule=p.relay_crash_schedule,
              restart_delay=p.relay_restart_delay, dies_at=p.relay_dies_at)
        monitors = outbox.monitors(interval=p.monitor_interval, alert_lag=p.alert_lag, alert_age=p.alert_age)
    answered = env.event()
    service = SignupService(world, p, db, producer, outbox, answered)

    # run
    env.process(signups(world, service, p))
    world.run(until=env.process(finish(world, answered, outbox, p)))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    found = {
        "lost": lost_events(trace),
        "ghosts": ghost_events(trace),
        "duplicates": checks.duplicates(trace, "append"),
        "pending": pending_events(trace),
        "failed_requests": failed_requests(trace),
    }
    client = trace[trace["component"] == "client"]
    crashes = trace[trace["event"] == "crash"]
    alerts = trace[trace["event"] == "alert"]
    series = {name: _frame(monitors.get(name), name) for name in ("outbox_lag", "outbox_age")}
    fields: dict[str, float] = dict(
        requests=int((client["event"] == "request").sum()),
        succeeded=int((client["event"] == "responded").sum()),
        failed_requests=found["failed_requests"].count,
        committed=int(_commits(trace, USERS).nunique()),
        published=int(trace.loc[trace["event"] == "append", "msg_id"].nunique()),
        lost=found["lost"].count,
        ghosts=found["ghosts"].count,
        duplicates=found["duplicates"].count,
        extra_copies=int(trace.loc[trace["event"] == "append", "msg_id"].duplicated().sum()),
        pending=found["pending"].count,
        crashes=int((crashes["component"] == "service").sum()),
        relay_crashes=int((crashes["component"] == "relay").sum()),
        alerts=int(len(alerts)),
        first_alert_at=float(alerts["time"].min()) if len(alerts) else math.nan,
        outbox_lag_max=float(series["outbox_lag"]["outbox_lag"].max()) if p.design == "outbox" else 0.0,
        outbox_age_max=float(series["outbox_age"]["outbox_age"].max()) if p.design == "outbox" else 0.0,
        **latency_fields(checks.latencies(trace, "request", "responded")),
        **latency_fields(checks.latencies(trace, "request", "append"), "delivery"),
        last_request_at=float(client.loc[client["event"] == "request", "time"].max()),
        duration=float(env.now),
    )
    return RunResult("publish", p.seed, p.to_dict(), Report(**fields), found, series, world.trace)


def signups(world: World, service: "SignupService", p: PublishParams) -> Generator[simpy.Event, Any, None]:
    """The users: ``messages`` sign-up requests arriving as a Poisson stream."""
    env = world.env
    rng = world.rng("arrivals")
    for i in range(p.messages):
        yield env.timeout(rng.expovariate(p.arrival_rate))
        world.record("client", "request", key=f"user-{i}", msg_id=f"signup-{i}")
        service.submit(i)


def finish(world: World, answered: simpy.Event, outbox: Outbox | None,
           p: PublishParams) -> Generator[simpy.Event, Any, None]:
    """The end of the run: every request answered, then the outbox drained (up to ``drain`` ms)."""
    env = world.env
    yield answered
    deadline = env.now + p.drain
    while outbox is not None and outbox.lag() and env.now < deadline:
        yield env.timeout(p.poll_interval)
    yield env.timeout(p.monitor_interval)  # one more sample, so the series end on the final state


class SignupService:
    """The service under test: takes requests one at a time, crashes, restarts, answers."""

    def __init__(self, world: World, p: PublishParams, db: Database, producer: Producer, outbox: Outbox | None,
                 answered: simpy.Event):
        self.world = world
        self.db = db
        self.producer = producer
        self.outbox = outbox
        self.service_time = p.service_time
        self.restart_delay = p.restart_delay
        self.plan = CrashPlan(world, "service", SERVICE_POINTS[p.design], p.crash_rate, p.crash_schedule)
        self.handle: Callable[[int], Generator[simpy.Event, Any, None]] = getattr(self, "handle_" + p.design)
        self._rng = world.rng("service/timing")
        self._queue: deque[int] = deque()
        self._wake: simpy.Event | None = None
        self._tx: Transaction | None = None
        self._left = p.messages
        self._answered = answered
        world.env.process(self._run())

    def submit(self, i: int) -> None:
        self._queue.append(i)
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        while True:
            while not self._queue:
                self._wake = env.event()
                yield self._wake
            i = self._queue.popleft()
            event_id = f"signup-{i}"
            self.plan.arm()
            try:
                yield env.timeout(self.service_time.sample(self._rng))
                yield from self.handle(i)
            except Crash as crash:
                if self._tx is not None and not self._tx.done:
                    self._tx.abort()  # the connection died with the process: the database rolls back
                self.world.record("service", "crash", msg_id=event_id, detail=crash.point)
                self._answer(event_id, f"connection reset: the service crashed at {crash.point}")
                yield env.timeout(self.restart_delay.sample(self._rng))
                self.world.record("service", "restart")
                continue
            except ClientError as err:  # the database refused the commit, or the producer gave up
                self._answer(event_id, type(err).__name__)
            else:
                self._answer(event_id)
            finally:
                self.plan.disarm()
                self._tx = None

    def _answer(self, event_id: str, error: str | None = None) -> None:
        if error is None:
            self.world.record("client", "responded", msg_id=event_id)
        else:
            self.world.record("client", "request_failed", msg_id=event_id, detail=error)
        self._left -= 1
        if self._left == 0:
            self._answered.succeed()

    def _create_user(self, i: int, with_event: bool = False) -> Generator[simpy.Event, Any, None]:
        self._tx = tx = self.db.transaction(msg_id=f"signup-{i}")
        tx.put(USERS, f"user-{i}", {"email": f"user-{i}@example.org"})
        if with_event:
            assert self.outbox is not None
            self.outbox.add(tx, f"signup-{i}", TOPIC, key=f"user-{i}", payload={"user": f"user-{i}"})
        yield from tx.commit()

    def _publish(self, i: int) -> simpy.Event:
        return self.producer.send(TOPIC, {"user": f"user-{i}"}, key=f"user-{i}", msg_id=f"signup-{i}")

    # -- the three designs, each a request's code path with its crash points -------------------
    def handle_dual_write(self, i: int) -> Generator[simpy.Event, Any, None]:
        self.plan.hit("before_commit")
        yield from self._create_user(i)
        self.plan.hit("between_commit_and_publish")
        yield self._publish(i)
        self.plan.hit("after_publish")

    def handle_publish_then_commit(self, i: int) -> Generator[simpy.Event, Any, None]:
        self.plan.hit("before_publish")
        yield self._publish(i)
        self.plan.hit("between_publish_and_commit")
        yield from self._create_user(i)
        self.plan.hit("after_commit")

    def handle_outbox(self, i: int) -> Generator[simpy.Event, Any, None]:
        self.plan.hit("before_commit")
        yield from self._create_user(i, with_event=True)
        self.plan.hit("after_commit")


# -- checkers: pure functions over the trace -------------------------------------------------
def _commits(trace: pd.DataFrame, table: str, without: str | None = None) -> pd.Series:
    """Event ids of the committed transactions that wrote ``table`` (and not ``without``)."""
    rows = trace[trace["event"] == "db_commit"]
    tables = rows["detail"].map(lambda d: str(d).split(","))
    keep = tables.map(lambda ts: table in ts and (without is None or without not in ts))
    return rows.loc[keep, "msg_id"].dropna()


def _rename(check: Check, name: str, detail: str) -> Check:
    return Check(name, check.count, check.examples, detail)


def _appended(trace: pd.DataFrame) -> pd.DataFrame:
    return trace.loc[trace["event"] == "append", ["event", "msg_id"]]


def lost_events(trace: pd.DataFrame, table: str = USERS, outbox_table: str = OUTBOX) -> Check:
    """State committed in ``table`` whose event never reached the broker and waits in no outbox."""
    made = _commits(trace, table, without=outbox_table)
    rows = pd.concat([pd.DataFrame({"event": "db_commit", "msg_id": made}), _appended(trace)])
    found = checks.lost(rows, produced="db_commit", delivered="append")
    return _rename(found, "lost", f"of {made.nunique()} committed without an outbox row, never appended")


def ghost_events(trace: pd.DataFrame, table: str = USERS) -> Check:
    """Events in the broker for state that was never committed in ``table``."""
    made = _commits(trace, table)
    rows = pd.concat([_appended(trace), pd.DataFrame({"event": "db_commit", "msg_id": made})])
    found = checks.lost(rows, produced="append", delivered="db_commit")
    return _rename(found, "ghosts", "appended to the broker, state never committed")


def pending_events(trace: pd.DataFrame, table: str = USERS, outbox_table: str = OUTBOX) -> Check:
    """Events committed to the outbox with their state and not in the broker yet (the relay's backlog)."""
    made = _commits(trace, table).loc[lambda s: s.isin(_commits(trace, outbox_table))]
    rows = pd.concat([pd.DataFrame({"event": "db_commit", "msg_id": made}), _appended(trace)])
    found = checks.lost(rows, produced="db_commit", delivered="append")
    return _rename(found, "pending", "in the outbox, not published when the run ended")


def failed_requests(trace: pd.DataFrame) -> Check:
    """Requests answered with an error (the ``detail`` of each ``request_failed`` row says why)."""
    ids = trace.loc[trace["event"] == "request_failed", "msg_id"]
    return Check("failed_requests", int(len(ids)), tuple(ids.head(checks.EXAMPLES)), "answered with an error")


def _frame(monitor: Any, name: str) -> pd.DataFrame:
    if monitor is None:
        return pd.DataFrame({"time": pd.Series(dtype=float), name: pd.Series(dtype=float)})
    return monitor.to_frame()
