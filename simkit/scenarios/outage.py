"""The broker goes down: what fails, what is lost, what waits.

Customers place orders (a Poisson stream) for ``run_time`` ms; from ``start`` for
``outage_ms`` ms the broker refuses everything (:meth:`simkit.Broker.outage`). Every
accepted order must become an ``OrderPlaced`` record on the ``orders`` topic. Three
designs of the order service:

``"all_async"``
    the service turns the request into a record and produces it, waiting for the
    broker's acknowledgement before answering; a consumer in the ``order-service``
    group writes the order to the database later. While the broker is down the
    producer retries until its ``delivery.timeout.ms`` (``publish_timeout``) runs out
    and gives up; the service answers the customer with an error. Nothing is lost,
    but nothing works either: the broker is on every request's path.
``"sync_core_outbox"``
    the service writes the order *and* an outbox row in one database transaction and
    answers. A relay (:class:`simkit.Relay`) publishes the rows; while the broker is
    down its publishes fail and the rows wait (the *backlog*), and when the broker
    is back it drains them in order. Customers notice nothing; the events are late,
    not lost.
``"direct_publish"``
    the service writes the order, hands the event to its producer without waiting, and
    answers. The producer retries while the broker is down; when a record's
    ``delivery.timeout.ms`` (``publish_timeout``) runs out it gives up (a
    ``send_failed`` row), and the service, which keeps no copy, logs it and moves on
    (an ``event_dropped`` row). Customers notice nothing, and every order placed more
    than ``publish_timeout`` before the broker came back never reaches anyone who
    reacts to ``OrderPlaced``: *lost*.

Outages are an infrastructure problem (replicate the broker, monitor it, fail over);
this scenario shows what the design does on the day they happen anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator

import numpy as np
import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import exponential, lognormal
from ..errors import ClientError, ConfigError
from ..glossary import PERCENTILES, register
from ..groups import ConsumerGroup
from ..network import Link, Server, call
from ..outbox import Outbox, Relay
from ..params import Params, check_steps, count, distribution, ms, positive
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import client_param, latency_fields
from .profile_update import caught_up
from .publish import failed_requests, lost_events, pending_events
from .registry import scenario

__all__ = [
    "DESIGNS", "FIELDS", "OrderService", "OutageParams", "customer", "customers", "drain_time", "failed_over_time",
    "lost_over_time", "outage", "outbox_backlog", "settle",
]

DESIGNS: tuple[str, ...] = ("all_async", "sync_core_outbox", "direct_publish")

TOPIC = "orders"
ORDERS = "orders.orders"
OUTBOX = "orders.outbox"
#: the most orders one run may place (``arrival_rate`` times ``run_time``)
MAX_ORDERS = 100_000


@dataclass(frozen=True)
class OutageParams(Params):
    """The parameters of :func:`outage` (times in ms)."""

    start: float = ms(3000, doc="the broker goes down at this time (inside the run)")
    outage_ms: float = ms(3000, strict=True, doc="how long the broker stays down (at most run_time)")
    run_time: float = ms(10_000, strict=True, doc="customers place orders for this long")
    arrival_rate: float = positive(0.05, high=10.0, doc="orders per ms (0.05 is 50 a second)")
    publish_timeout: float = ms(1000, strict=True, doc="every producer's delivery.timeout.ms and request timeout")
    network_latency: Any = distribution(lognormal(median=1, p99=10), doc="each leg: client, service, broker")
    service_time: Any = distribution(exponential(2), doc="the order service's own work")
    db_latency: Any = distribution(lognormal(median=2, p99=20), doc="each database commit")
    workers: int = count(100, high=10_000, doc="the order service's workers; one waiting for the broker is busy")
    poll_interval: float = ms(100, strict=True, doc="the relay polls the outbox this often")
    sample_every: float = ms(100, strict=True, doc="the series are sampled this often")
    drain: float = ms(60_000, doc="after the last answer, wait this long for every publish to settle")
    client: str = client_param()

    def check(self) -> None:
        if self.start >= self.run_time:
            raise ConfigError("start", self.start,
                              f"a time in ms from 0 to before the end of the run (run_time={self.run_time:g})")
        if self.outage_ms > self.run_time:
            raise ConfigError("outage_ms", self.outage_ms,
                              f"a number of ms > 0 and at most run_time ({self.run_time:g})")
        if self.arrival_rate * self.run_time > MAX_ORDERS:
            raise ConfigError("arrival_rate", self.arrival_rate,
                              f"at most {MAX_ORDERS / self.run_time:g} orders per ms over run_time="
                              f"{self.run_time:g} ms (at most {MAX_ORDERS} orders)")
        span = max(self.run_time, self.start + self.outage_ms) + self.drain
        check_steps("sample_every", self.sample_every, span)
        check_steps("poll_interval", self.poll_interval, span)


FIELDS = (
    "requests", "succeeded", "failed_requests", "lost", "pending", "published", "duplicates", "outbox_lag_max",
    "drain_ms", *(f"latency_{s}" for s in PERCENTILES), "outage_start", "outage_end", "duration",
)
register("drain_ms", "ms", "from the broker's return until the last delayed event of an earlier request reached it")
register("outage_start", "ms", "when the broker went down")
register("outage_end", "ms", "when the broker came back")


@scenario("outage", designs=DESIGNS, params=OutageParams, fields=FIELDS, lesson="09",
          renamed={"duration": "outage_ms"}, legacy_positional=("design", "start", "outage_ms", "seed"))
def outage(p: OutageParams) -> RunResult:
    """Orders arrive for ``run_time`` ms; the broker is down from ``start`` for ``outage_ms`` ms.

    ``start`` must fall inside the run (0 <= start < run_time) and ``outage_ms`` is
    more than 0 and at most ``run_time`` (it was called ``duration``, which the report
    uses for the run's length). ``arrival_rate`` is orders per ms.
    ``publish_timeout`` is every producer's ``delivery.timeout.ms`` (and request
    timeout): how long it retries before it gives up on a record. ``network_latency``
    is each leg between client and service and to the broker; ``service_time`` the
    service's own work, on ``workers`` workers (a worker waiting for the broker is
    busy: too few and requests queue instead of failing); ``db_latency`` each commit.
    The relay polls the outbox every ``poll_interval`` ms. After the last answer the
    run waits up to ``drain`` ms for the outbox, the consumers and ``direct_publish``'s
    background sends (delivered or given up) to catch up.

    Report fields (see :mod:`simkit.glossary`): ``requests``, ``succeeded``,
    ``failed_requests`` (answered with an error), ``lost`` (orders accepted whose event
    never reached the broker and waits in no outbox), ``pending`` (still in an outbox
    at the end), ``published`` (``OrderPlaced`` records in the broker),
    ``duplicates``, ``outbox_lag_max`` (most outbox rows waiting at once), ``drain_ms``
    (from the broker's return until the last event of an order placed before then
    reached the broker; 0 when none waited), ``latency_*`` (ms, request to successful
    answer), ``outage_start``, ``outage_end`` and ``duration`` (ms). Checks:
    ``failed_requests``, ``lost``, ``pending``, ``duplicates``. Series, sampled every
    ``sample_every`` ms: ``backlog`` (time, backlog: outbox rows waiting; zero for
    designs without an outbox), ``failed`` (time, failed: failed requests so far) and
    ``lost`` (time, lost: events lost so far, counted when the producer gave up on them).
    """
    # build: the broker with its outage, the orders database, one producer
    world = World(p.seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 3)
    broker.outage(p.start, p.outage_ms)
    db = Database(world, "orders-db", commit_latency=p.db_latency)
    db.create_table(ORDERS)
    producer = Producer(world, broker, "orders-producer", client=p.client, latency=p.network_latency,
                        request_timeout=p.publish_timeout, delivery_timeout=p.publish_timeout)

    # wire the design: an outbox and relay, or a consumer that writes the orders, or neither
    service = OrderService(world, p, db, producer)
    groups: list[ConsumerGroup] = []
    if p.design == "sync_core_outbox":
        Relay(world, service.outbox, producer, poll_interval=p.poll_interval)  # type: ignore[arg-type]
    elif p.design == "all_async":
        groups.append(ConsumerGroup(world, broker, "order-service"))
        Consumer(world, broker, "order-service-consumer", TOPIC, service.place, client=p.client, group=groups[0],
                 commit="after_processing", fetch_latency=p.network_latency, auto_offset_reset="earliest")
    service.open(p)

    # run
    world.run(until=env.process(customers(world, service, broker, groups, p)))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    end = float(env.now)
    found = {
        "failed_requests": failed_requests(trace),
        "lost": lost_events(trace, ORDERS, OUTBOX),
        "pending": pending_events(trace, ORDERS, OUTBOX),
        "duplicates": checks.duplicates(trace[trace["topic"] == TOPIC], "append"),
    }
    grid = np.arange(0.0, end + p.sample_every, p.sample_every)
    backlog = outbox_backlog(trace, OUTBOX)
    series = {"backlog": _sample(backlog, "backlog", grid), "failed": failed_over_time(trace, grid),
              "lost": lost_over_time(trace, grid)}
    ev = trace["event"]
    up = trace.loc[ev == "broker_up", "time"]
    outage_end = float(up.iloc[0]) if len(up) else p.start + p.outage_ms
    fields: dict[str, float] = dict(
        requests=int(((ev == "request") & (trace["component"] == "client")).sum()),
        succeeded=int(((ev == "responded") & (trace["component"] == "client")).sum()),
        failed_requests=found["failed_requests"].count,
        lost=found["lost"].count,
        pending=found["pending"].count,
        published=int(trace.loc[(ev == "append") & (trace["topic"] == TOPIC), "msg_id"].nunique()),
        duplicates=found["duplicates"].count,
        outbox_lag_max=float(backlog["backlog"].max()) if len(backlog) else 0.0,
        drain_ms=drain_time(trace, outage_end),
        **latency_fields(checks.latencies(trace, "request", "responded")),
        outage_start=p.start,
        outage_end=outage_end,
        duration=end,
    )
    return RunResult("outage", p.seed, p.to_dict(), Report(**fields), found, series, world.trace)


class OrderService:
    """The order service: ``workers`` workers behind two network links, its database, and the design's path.

    ``handle`` is its code for one order; ``place`` is the all_async consumer's handler;
    ``background`` holds direct_publish's sends, still retrying or settled.
    """

    def __init__(self, world: World, p: OutageParams, db: Database, producer: Producer):
        self.world = world
        self.design = p.design
        self.publish_timeout = p.publish_timeout
        self.db = db
        self.producer = producer
        self.outbox: Outbox | None = Outbox(db, OUTBOX) if p.design == "sync_core_outbox" else None
        self.background: list[simpy.Process] = []

    def open(self, p: OutageParams) -> None:
        """Start taking requests: the API's workers and the links from and to the clients."""
        self.server = Server(self.world, "order-service", p.service_time, capacity=p.workers)
        self.to_service = Link(self.world, "client->order-service", p.network_latency)
        self.from_service = Link(self.world, "order-service->client", p.network_latency)

    def place(self, record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        """all_async's consumer: write the order the record asks for."""
        tx = self.db.transaction(owner="orders", msg_id=record.msg_id)
        tx.put(ORDERS, record.key, "placed")
        yield from tx.commit()

    def handle(self, order_id: str) -> Generator[simpy.Event, Any, str | None]:
        """The order service's code path for one request; returns an error text or None."""
        if self.design == "all_async":
            try:
                yield self.producer.send(TOPIC, "OrderPlaced", key=order_id, msg_id=order_id)
            except ClientError as err:
                return f"{type(err).__name__}: the producer gave up after publish_timeout={self.publish_timeout:g} ms"
            return None
        tx = self.db.transaction(owner="orders", msg_id=order_id)
        tx.put(ORDERS, order_id, "placed")
        if self.outbox is not None:
            self.outbox.add(tx, order_id, TOPIC, key=order_id, payload="OrderPlaced")
        yield from tx.commit()
        if self.design == "direct_publish":
            sent = self.producer.send(TOPIC, "OrderPlaced", key=order_id, msg_id=order_id)
            self.background.append(self.world.env.process(self.dropped_if_it_fails(sent, order_id)))
        return None

    def dropped_if_it_fails(self, sent: simpy.Event, order_id: str) -> Generator[simpy.Event, Any, None]:
        """direct_publish's error callback: the service logs the failure; it has no copy to retry from."""
        try:
            yield sent
        except ClientError as err:
            self.world.record("order-service", "event_dropped", topic=TOPIC, msg_id=order_id,
                              detail=f"producer gave up: {type(err).__name__}")


def customer(world: World, service: OrderService, i: int) -> Generator[simpy.Event, Any, None]:
    """Customer ``i`` places an order and gets an answer, or an error."""
    order_id = f"order-{i}"
    world.record("client", "request", key=order_id, msg_id=order_id)
    error = yield from call(world, service.to_service, service.from_service,
                            lambda _r: service.server.serve(lambda: service.handle(order_id)), i)
    if error is None:
        world.record("client", "responded", key=order_id, msg_id=order_id)
    else:
        world.record("client", "request_failed", key=order_id, msg_id=order_id, detail=error)


def customers(world: World, service: OrderService, broker: Broker, groups: list[ConsumerGroup],
              p: OutageParams) -> Generator[simpy.Event, Any, None]:
    """Orders as a Poisson stream for ``run_time`` ms, every answer, then every publish settled."""
    env = world.env
    rng = world.rng("customers/arrivals")
    answered: list[simpy.Process] = []
    i = 0
    while True:
        yield env.timeout(rng.expovariate(p.arrival_rate))
        if env.now >= p.run_time:
            break
        answered.append(env.process(customer(world, service, i)))
        i += 1
    yield env.all_of(answered)
    yield from settle(world, service, broker, groups, p)


def settle(world: World, service: OrderService, broker: Broker, groups: list[ConsumerGroup],
           p: OutageParams) -> Generator[simpy.Event, Any, None]:
    """Wait for the outage to end, then for every publish to settle (up to ``drain`` ms).

    Settled means the outbox empty, the consumers caught up, and each background send
    delivered or given up (a send still retrying is neither lost nor safe).
    """
    env = world.env
    end_of_outage = p.start + p.outage_ms
    deadline = max(env.now, end_of_outage) + p.drain
    while env.now < deadline and (env.now < end_of_outage or not (
            (service.outbox is None or service.outbox.lag() == 0) and caught_up(broker, groups, TOPIC)
            and all(s.triggered for s in service.background))):
        yield env.timeout(20)


# -- checkers: pure functions over the trace -------------------------------------------------
def outbox_backlog(trace: pd.DataFrame, table: str = OUTBOX) -> pd.DataFrame:
    """Outbox rows waiting to be published, at every change: rows committed to ``table`` minus rows marked.

    Read from the trace: a ``db_commit`` whose tables include ``table`` adds its event,
    the first ``outbox_marked`` row of that event removes it. Columns time (ms), backlog.
    """
    ev = trace["event"]
    commits = trace[ev == "db_commit"]
    wrote = commits["detail"].map(lambda d: isinstance(d, str) and table in d.split(",")).to_numpy(dtype=bool)
    added = commits.loc[wrote, ["time", "msg_id"]].drop_duplicates("msg_id")
    marked = trace.loc[ev == "outbox_marked", ["time", "msg_id"]].drop_duplicates("msg_id")
    if added.empty:
        return pd.DataFrame({"time": [0.0], "backlog": [0]})
    steps = pd.concat([pd.DataFrame({"time": added["time"].to_numpy(), "d": 1}),
                       pd.DataFrame({"time": marked["time"].to_numpy(), "d": -1})]).sort_values("time", kind="stable")
    per_time = steps.groupby("time", sort=True)["d"].sum()
    return pd.DataFrame({"time": np.concatenate([[0.0], per_time.index.to_numpy()]),
                         "backlog": np.concatenate([[0], per_time.cumsum().to_numpy()]).astype(int)})


def failed_over_time(trace: pd.DataFrame, grid: np.ndarray) -> pd.DataFrame:
    """Failed requests so far (``request_failed`` rows), at each time of ``grid`` (ms)."""
    times = np.sort(trace.loc[trace["event"] == "request_failed", "time"].to_numpy())
    return pd.DataFrame({"time": grid, "failed": np.searchsorted(times, grid, side="right")})


def lost_over_time(trace: pd.DataFrame, grid: np.ndarray, topic: str = TOPIC) -> pd.DataFrame:
    """Events lost so far at each time of ``grid`` (ms): an order committed without an outbox row whose
    event never reached ``topic`` counts from the moment its producer gave up on it (``send_failed``)."""
    ev = trace["event"]
    commits = trace[ev == "db_commit"]
    tables = commits["detail"].map(lambda d: str(d).split(","))
    direct = commits.loc[tables.map(lambda ts: ORDERS in ts and OUTBOX not in ts).to_numpy(dtype=bool), "msg_id"]
    appended = trace.loc[(ev == "append") & (trace["topic"] == topic), "msg_id"]
    gone = set(direct) - set(appended)
    failed = trace[(ev == "send_failed") & trace["msg_id"].isin(gone)].groupby("msg_id")["time"].max()
    end = float(trace["time"].max()) if len(trace) else 0.0
    times = np.sort([float(failed.get(m, end)) for m in gone])
    return pd.DataFrame({"time": grid, "lost": np.searchsorted(times, grid, side="right")})


def drain_time(trace: pd.DataFrame, outage_end: float, topic: str = TOPIC) -> float:
    """Ms from ``outage_end`` until the last event of a request made before it reached the broker.

    Only events that did reach ``topic`` count (a lost one never drains); 0 when every
    such event was in the broker before the outage ended.
    """
    ev = trace["event"]
    asked = trace.loc[(ev == "request") & (trace["time"] < outage_end), "msg_id"]
    appended = trace[(ev == "append") & (trace["topic"] == topic) & trace["msg_id"].isin(asked)]
    first = appended.groupby("msg_id")["time"].min()
    late = first[first >= outage_end]
    return float(late.max() - outage_end) if len(late) else 0.0


def _sample(steps: pd.DataFrame, column: str, grid: np.ndarray) -> pd.DataFrame:
    idx = np.searchsorted(steps["time"].to_numpy(), grid, side="right") - 1
    values = steps[column].to_numpy()[np.maximum(idx, 0)]
    return pd.DataFrame({"time": grid, column: np.where(idx >= 0, values, 0)})

