"""The broker goes down: what fails, what is lost, what waits.

Customers place orders (a Poisson stream) for ``run_time`` ms; from ``start`` for
``duration`` ms the broker refuses everything (:meth:`simkit.Broker.outage`). Every
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

from typing import Any, Generator

import numpy as np
import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import DistributionLike, as_distribution, exponential, lognormal
from ..errors import ClientError, ConfigError
from ..groups import ConsumerGroup
from ..network import Link, Server, call
from ..outbox import Outbox, Relay
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World, check_seed
from ._common import check_choice, check_count, check_positive, latency_fields
from .profile_update import caught_up
from .publish import failed_requests, lost_events, pending_events

__all__ = ["DESIGNS", "drain_time", "failed_over_time", "lost_over_time", "outage", "outbox_backlog"]

DESIGNS: tuple[str, ...] = ("all_async", "sync_core_outbox", "direct_publish")

TOPIC = "orders"
ORDERS = "orders.orders"
OUTBOX = "orders.outbox"


def outage(
    design: str,
    start: float = 3000,
    duration: float = 3000,
    seed: int = 0,
    *,
    run_time: float = 10_000,
    arrival_rate: float = 0.05,
    publish_timeout: float = 1000,
    network_latency: DistributionLike = lognormal(median=1, p99=10),
    service_time: DistributionLike = exponential(2),
    db_latency: DistributionLike = lognormal(median=2, p99=20),
    workers: int = 100,
    poll_interval: float = 100,
    sample_every: float = 100,
    drain: float = 60_000,
) -> RunResult:
    """Orders arrive for ``run_time`` ms; the broker is down from ``start`` for ``duration`` ms.

    ``start`` must fall inside the run (0 <= start < run_time) and ``duration`` is
    more than 0 and at most ``run_time``. ``arrival_rate`` is orders per ms.
    ``publish_timeout`` is every producer's ``delivery.timeout.ms`` (and request
    timeout): how long it retries before it gives up on a record. ``network_latency``
    is each leg between client and service and to the broker; ``service_time`` the
    service's own work, on ``workers`` workers (a worker waiting for the broker is
    busy: too few and requests queue instead of failing); ``db_latency`` each commit. The relay polls the
    outbox every ``poll_interval`` ms. After the last answer the run waits up to
    ``drain`` ms for the outbox, the consumers and ``direct_publish``'s background sends
    (delivered or given up) to catch up.

    Report fields: ``requests``, ``succeeded``, ``failed_requests`` (answered with an
    error), ``lost`` (orders accepted whose event never reached the broker and waits in
    no outbox), ``pending`` (still in an outbox at the end), ``events_published``
    (``OrderPlaced`` records in the broker), ``duplicates``, ``max_backlog`` (most
    outbox rows waiting at once), ``drain_ms`` (from the broker's return until the
    last event of an order placed before then reached the broker; 0 when none waited),
    ``latency_mean``, ``latency_p50``, ``latency_p99`` (ms, request to successful
    answer), ``outage_start``, ``outage_end`` and ``duration`` (ms). Checks: ``failed``,
    ``lost``, ``pending``, ``duplicates``. Series, sampled every ``sample_every`` ms:
    ``backlog`` (time, backlog: outbox rows waiting; zero for designs without an
    outbox), ``failed`` (time, failed: failed requests so far) and ``lost`` (time, lost:
    events lost so far, counted when the producer gave up on them).
    """
    check_choice("design", design, DESIGNS)
    run_time = check_positive("run_time", run_time)
    start = check_positive("start", start, allow_zero=True)
    if start >= run_time:
        raise ConfigError("start", start, f"a time in ms from 0 to before the end of the run (run_time={run_time:g})")
    duration = check_positive("duration", duration)
    if duration > run_time:
        raise ConfigError("duration", duration, f"a number of ms > 0 and at most run_time ({run_time:g})")
    seed = check_seed(seed)
    lam = check_positive("arrival_rate", arrival_rate)
    publish_timeout = check_positive("publish_timeout", publish_timeout)
    net = as_distribution("network_latency", network_latency)
    service = as_distribution("service_time", service_time)
    db_lat = as_distribution("db_latency", db_latency)
    workers = check_count("workers", workers, 1, 10_000)
    poll_interval = check_positive("poll_interval", poll_interval)
    sample_every = check_positive("sample_every", sample_every)
    drain = check_positive("drain", drain, allow_zero=True)
    params: dict[str, Any] = dict(
        design=design, start=start, duration=duration, run_time=run_time, arrival_rate=lam,
        publish_timeout=publish_timeout, network_latency=net, service_time=service, db_latency=db_lat,
        workers=workers, poll_interval=poll_interval, sample_every=sample_every, drain=drain)

    world = World(seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 3)
    broker.outage(start, duration)
    db = Database(world, "orders-db", commit_latency=db_lat)
    db.create_table(ORDERS)
    producer = Producer(world, broker, "orders-producer", latency=net, request_timeout=publish_timeout,
                        delivery_timeout=publish_timeout)
    outbox: Outbox | None = None
    groups: list[ConsumerGroup] = []
    if design == "sync_core_outbox":
        outbox = Outbox(db, OUTBOX)
        Relay(world, outbox, producer, poll_interval=poll_interval)
    elif design == "all_async":
        def place(record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
            tx = db.transaction(owner="orders", msg_id=record.msg_id)
            tx.put(ORDERS, record.key, "placed")
            yield from tx.commit()

        groups.append(ConsumerGroup(world, broker, "order-service"))
        Consumer(world, broker, "order-service-consumer", TOPIC, place, group=groups[0],
                 commit="after_processing", fetch_latency=net, auto_offset_reset="earliest")

    def dropped_if_it_fails(sent: simpy.Event, order_id: str) -> Generator[simpy.Event, Any, None]:
        """direct_publish's error callback: the service logs the failure; it has no copy to retry from."""
        try:
            yield sent
        except ClientError as err:
            world.record("order-service", "event_dropped", topic=TOPIC, msg_id=order_id,
                         detail=f"producer gave up: {type(err).__name__}")

    background: list[simpy.Process] = []  # direct_publish's sends, still retrying or settled

    def handle(order_id: str) -> Generator[simpy.Event, Any, str | None]:
        """The order service's code path for one request; returns an error text or None."""
        if design == "all_async":
            try:
                yield producer.send(TOPIC, "OrderPlaced", key=order_id, msg_id=order_id)
            except ClientError as err:
                return f"{type(err).__name__}: the producer gave up after publish_timeout={publish_timeout:g} ms"
            return None
        tx = db.transaction(owner="orders", msg_id=order_id)
        tx.put(ORDERS, order_id, "placed")
        if outbox is not None:
            outbox.add(tx, order_id, TOPIC, key=order_id, payload="OrderPlaced")
        yield from tx.commit()
        if design == "direct_publish":
            background.append(env.process(dropped_if_it_fails(
                producer.send(TOPIC, "OrderPlaced", key=order_id, msg_id=order_id), order_id)))
        return None

    api = Server(world, "order-service", service, capacity=workers)
    to_svc, from_svc = Link(world, "client->order-service", net), Link(world, "order-service->client", net)

    def customer(i: int) -> Generator[simpy.Event, Any, None]:
        order_id = f"order-{i}"
        world.record("client", "request", key=order_id, msg_id=order_id)
        error = yield from call(world, to_svc, from_svc, lambda _r: api.serve(lambda: handle(order_id)), i)
        if error is None:
            world.record("client", "responded", key=order_id, msg_id=order_id)
        else:
            world.record("client", "request_failed", key=order_id, msg_id=order_id, detail=error)

    answered: list[simpy.Process] = []

    def customers() -> Generator[simpy.Event, Any, None]:
        rng = world.rng("customers/arrivals")
        i = 0
        while True:
            yield env.timeout(rng.expovariate(lam))
            if env.now >= run_time:
                break
            answered.append(env.process(customer(i)))
            i += 1
        yield env.all_of(answered)
        deadline = max(env.now, start + duration) + drain
        # wait for the outage to end, then for every publish to settle: the outbox empty, the consumers caught
        # up, and each background send delivered or given up (a send still retrying is neither lost nor safe)
        while env.now < deadline and (env.now < start + duration or not (
                (outbox is None or outbox.lag() == 0) and caught_up(broker, groups, TOPIC)
                and all(p.triggered for p in background))):
            yield env.timeout(20)

    world.run(until=env.process(customers()))

    trace = world.trace.to_frame()
    end = float(env.now)
    found = {
        "failed": failed_requests(trace),
        "lost": lost_events(trace, ORDERS, OUTBOX),
        "pending": pending_events(trace, ORDERS, OUTBOX),
        "duplicates": checks.duplicates(trace[trace["topic"] == TOPIC], "append"),
    }
    grid = np.arange(0.0, end + sample_every, sample_every)
    backlog = outbox_backlog(trace, OUTBOX)
    series = {"backlog": _sample(backlog, "backlog", grid), "failed": failed_over_time(trace, grid),
              "lost": lost_over_time(trace, grid)}
    ev = trace["event"]
    up = trace.loc[ev == "broker_up", "time"]
    outage_end = float(up.iloc[0]) if len(up) else start + duration
    fields: dict[str, float] = dict(
        requests=int(((ev == "request") & (trace["component"] == "client")).sum()),
        succeeded=int(((ev == "responded") & (trace["component"] == "client")).sum()),
        failed_requests=found["failed"].count,
        lost=found["lost"].count,
        pending=found["pending"].count,
        events_published=int(trace.loc[(ev == "append") & (trace["topic"] == TOPIC), "msg_id"].nunique()),
        duplicates=found["duplicates"].count,
        max_backlog=float(backlog["backlog"].max()) if len(backlog) else 0.0,
        drain_ms=drain_time(trace, outage_end),
        **{k: v for k, v in latency_fields(checks.latencies(trace, "request", "responded")).items()
           if k in ("latency_mean", "latency_p50", "latency_p99")},
        outage_start=start,
        outage_end=outage_end,
        duration=end,
    )
    return RunResult("outage", seed, params, Report(**fields), found, series, world.trace)


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

