"""Boundaries first, then communication, then deployment: a modular monolith or services.

The same five logical boundaries, :data:`BOUNDARIES` (customers, orders, billing,
inventory, notifications), with the same code and the same requests, deployed two ways:

``"monolith"``
    one deployable, run as ``instances`` copies, with one database in which each
    boundary owns its schema (``customers.*``, ``orders.*``, ...; a boundary's
    transactions may touch only its own schema, see :class:`~simkit.Database`).
    A boundary calls another as a function, and events go through an in-process bus:
    the publisher hands the event to a handler that runs on its own, later (decoupled
    in time, no broker).
``"services"``
    each boundary is a service (``instances`` copies each) with a database of its own.
    Every call between boundaries is a network round trip (:func:`simkit.network.call`
    with a timeout), and events go through a broker (``broker_nodes`` nodes): the
    publisher waits for the broker's acknowledgement (``acks=all``), the notifications
    service consumes them in its consumer group.

Requests (a Poisson stream, the type of each drawn from ``clients/mix``): place an
order (orders asks customers, inventory and billing, stores the order and publishes
``OrderPlaced``), update a profile (customers; publishes ``CustomerUpdated``), check
stock (inventory), list invoices (billing), read notification preferences
(notifications). Notifications reacts to both events by sending a message.

Two outages can be switched on. ``broker_outage=(start, duration)`` takes the broker
down: a publisher that cannot get its acknowledgement within ``publish_timeout``
fails its request (the monolith has no broker). ``db_outage=(boundary, start,
duration)`` takes *that boundary's database* down: in the monolith that is the one
shared database, so every boundary stops; in services only that boundary's own work,
and every request that needs it, fails.

The report counts the things to run (``infrastructure_parts``: one ``deployed`` trace
row each), request latency, failed requests and which boundaries were affected (a
boundary is affected when one of its steps failed: :func:`affected_boundaries`).
"""

from __future__ import annotations

import math
from typing import Any, Generator

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import DistributionLike, as_distribution, exponential, lognormal
from ..errors import ClientError, ConfigError, RequestTimeout
from ..groups import ConsumerGroup
from ..network import Link, call
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World, check_seed
from ._common import check_choice, check_count, check_positive, check_window, latency_fields, until_drained
from .publish import failed_requests

__all__ = ["BOUNDARIES", "DESIGNS", "REQUEST_TYPES", "affected_boundaries", "deployment", "infrastructure"]

DESIGNS: tuple[str, ...] = ("monolith", "services")
BOUNDARIES: tuple[str, ...] = ("customers", "orders", "billing", "inventory", "notifications")

#: request type -> (the boundary that answers it, its share of the traffic)
REQUEST_TYPES: dict[str, tuple[str, float]] = {
    "place_order": ("orders", 0.4),
    "update_profile": ("customers", 0.2),
    "check_stock": ("inventory", 0.15),
    "list_invoices": ("billing", 0.15),
    "get_preferences": ("notifications", 0.1),
}

#: each boundary's table, in its own schema
TABLES = {b: f"{b}.records" for b in BOUNDARIES}
#: events and their topics (services); the monolith hands them to an in-process handler
TOPICS = {"OrderPlaced": "order-events", "CustomerUpdated": "customer-events"}


def deployment(
    design: str,
    seed: int = 0,
    *,
    requests: int = 300,
    arrival_rate: float = 0.1,
    instances: int = 2,
    broker_nodes: int = 3,
    work_time: DistributionLike = exponential(1),
    db_latency: DistributionLike = lognormal(median=2, p99=10),
    network_latency: DistributionLike = lognormal(median=5, p99=60),
    client_latency: DistributionLike = 10,
    call_timeout: float = 1000,
    publish_timeout: float = 1000,
    client_timeout: float = 5000,
    broker_outage: tuple[float, float] | None = None,
    db_outage: tuple[str, float, float] | None = None,
    max_time: float = 600_000,
) -> RunResult:
    """Serve ``requests`` requests with the boundaries deployed as ``design``; times in ms.

    ``arrival_rate`` is requests per ms. Every boundary step costs ``work_time`` of
    computing plus its database read or commit (``db_latency``). The client's hop to
    the application and back costs ``client_latency`` each way in both designs; in
    ``"services"`` every call between services, every answer, every publish and its
    acknowledgement costs ``network_latency`` more.
    Calls between services give up after ``call_timeout``; a publish after
    ``publish_timeout`` (the producer's ``delivery.timeout.ms``); the client after
    ``client_timeout``. ``instances`` and
    ``broker_nodes`` only change what there is to run (load is not spread over them).

    Report fields: ``requests``, ``succeeded``, ``failed_requests``, ``latency_mean``,
    ``latency_p50``, ``latency_p95``, ``latency_p99``, ``latency_max`` (ms, request to
    successful answer), ``infrastructure_parts`` (app instances + databases + broker
    nodes), ``app_instances``, ``databases``, ``brokers``, ``remote_calls`` (network
    calls between boundaries per request), ``notifications_sent``,
    ``affected_boundaries`` (how many) and ``affected_<boundary>`` (1 or 0) for each
    of :data:`BOUNDARIES`, and ``duration`` (ms). Checks: ``failed`` (failed requests)
    and ``affected`` (examples: the affected boundaries).
    """
    check_choice("design", design, DESIGNS)
    seed = check_seed(seed)
    requests = check_count("requests", requests, 1, 100_000)
    lam = check_positive("arrival_rate", arrival_rate)
    instances = check_count("instances", instances, 1, 100)
    broker_nodes = check_count("broker_nodes", broker_nodes, 1, 100)
    work = as_distribution("work_time", work_time)
    db_lat = as_distribution("db_latency", db_latency)
    net = as_distribution("network_latency", network_latency)
    edge = as_distribution("client_latency", client_latency)
    call_timeout = check_positive("call_timeout", call_timeout)
    publish_timeout = check_positive("publish_timeout", publish_timeout)
    client_timeout = check_positive("client_timeout", client_timeout)
    broker_window = check_window("broker_outage", broker_outage)
    db_window = _db_window(db_outage)
    max_time = check_positive("max_time", max_time)
    params: dict[str, Any] = dict(
        design=design, requests=requests, arrival_rate=lam, instances=instances, broker_nodes=broker_nodes,
        work_time=work, db_latency=db_lat, network_latency=net, client_latency=edge, call_timeout=call_timeout,
        publish_timeout=publish_timeout, client_timeout=client_timeout, broker_outage=broker_window, db_outage=db_window, max_time=max_time)

    world = World(seed)
    env = world.env
    app = _Application(world, design, instances, broker_nodes, work, db_lat, net, edge, call_timeout,
                       publish_timeout, client_timeout)
    if broker_window is not None and app.broker is not None:
        app.broker.outage(*broker_window)
    if db_window is not None:
        app.dbs[db_window[0]].outage(*db_window[1:])

    answered: list[simpy.Process] = []

    def clients() -> Generator[simpy.Event, Any, None]:
        rng = world.rng("arrivals")
        mix = world.rng("clients/mix")
        kinds = list(REQUEST_TYPES)
        weights = [REQUEST_TYPES[k][1] for k in kinds]
        for i in range(requests):
            yield env.timeout(rng.expovariate(lam))
            kind = mix.choices(kinds, weights)[0]
            answered.append(env.process(app.client_request(f"req-{i}", kind)))
        yield env.all_of(answered)
        yield from app.settle()

    world.run(until=env.process(clients()) | env.timeout(max_time))

    trace = world.trace.to_frame()
    failed = failed_requests(trace)
    hit = affected_boundaries(trace)
    parts = infrastructure(trace)
    lat = checks.latencies(trace, "request", "responded")
    ev = trace["event"]
    n = int(((ev == "request") & (trace["component"] == "client")).sum())
    fields: dict[str, float] = dict(
        requests=n,
        succeeded=int(lat.size),
        failed_requests=failed.count,
        **latency_fields(lat),
        infrastructure_parts=int(len(parts)),
        app_instances=int((parts == "app instance").sum()),
        databases=int((parts == "database").sum()),
        brokers=int((parts == "broker node").sum()),
        remote_calls=float((ev == "remote_call").sum()) / n if n else math.nan,
        notifications_sent=int(trace.loc[ev == "notification_sent", "msg_id"].nunique()),
        affected_boundaries=len(hit),
        **{f"affected_{b}": int(b in hit) for b in BOUNDARIES},
        duration=float(env.now),
    )
    found = {"failed": failed,
             "affected": checks.Check("affected", len(hit), tuple(hit), "boundaries with a failed step")}
    return RunResult("deployment", seed, params, Report(**fields), found, {}, world.trace)


class _Application:
    """The five boundaries' code, wired in-process (monolith) or over the network (services)."""

    def __init__(self, world: World, design: str, instances: int, broker_nodes: int, work: Any, db_lat: Any,
                 net: Any, edge: Any, call_timeout: float, publish_timeout: float, client_timeout: float):
        self.world = world
        self.remote = design == "services"
        self.work = work
        self.net = net
        self.call_timeout = call_timeout
        self.client_timeout = client_timeout
        self._links: dict[tuple[str, str], Link] = {}
        # the client's hop to the application (its load balancer or API gateway): the same in both designs
        self.to_app = Link(world, "client->app", edge)
        self.from_app = Link(world, "app->client", edge)
        self._handlers: list[simpy.Process] = []
        self.broker: Broker | None = None
        self.producers: dict[str, Producer] = {}
        self.group: ConsumerGroup | None = None
        self.consumer: Consumer | None = None
        self._events_sent = world.env.event()
        deploy = world.record
        if not self.remote:
            shared = Database(world, "db", read_latency=db_lat, commit_latency=db_lat)
            for b in BOUNDARIES:
                shared.create_table(TABLES[b])
            self.dbs = {b: shared for b in BOUNDARIES}
            for i in range(instances):
                deploy(f"app-{i}", "deployed", detail="app instance")
            deploy("db", "deployed", detail="database")
            return
        self.dbs = {}
        for b in BOUNDARIES:
            self.dbs[b] = Database(world, f"{b}-db", read_latency=db_lat, commit_latency=db_lat)
            self.dbs[b].create_table(TABLES[b])
            for i in range(instances):
                deploy(f"{b}-{i}", "deployed", detail="app instance")
            deploy(f"{b}-db", "deployed", detail="database")
        self.broker = Broker(world)
        for i in range(broker_nodes):
            deploy(f"broker-{i}", "deployed", detail="broker node")
        for topic in TOPICS.values():
            self.broker.create_topic(topic, 3)
        for b in ("customers", "orders"):
            self.producers[b] = Producer(world, self.broker, f"{b}-producer", latency=net,
                                         request_timeout=publish_timeout, delivery_timeout=publish_timeout)
        self.group = ConsumerGroup(world, self.broker, "notifications")
        self.consumer = Consumer(world, self.broker, "notifications-consumer", list(TOPICS.values()),
                                 self._on_record, group=self.group, commit="after_processing",
                                 fetch_latency=net, auto_offset_reset="earliest")

    # -- the edge: a client's request and its answer ------------------------------------------
    def client_request(self, rid: str, kind: str) -> Generator[simpy.Event, Any, None]:
        world = self.world
        world.record("client", "request", msg_id=rid, detail=kind)
        entry = REQUEST_TYPES[kind][0]
        try:
            status, why = yield from call(world, self.to_app, self.from_app,
                                          lambda r: self.step(entry, kind, r), rid, self.client_timeout)
        except RequestTimeout:
            status, why = "error", "timeout"
        if status == "ok":
            world.record("client", "responded", msg_id=rid)
        else:
            world.record("client", "request_failed", msg_id=rid, detail=why)

    def settle(self) -> Generator[simpy.Event, Any, None]:
        """Wait until every event has been handled (in-process handlers, or the consumer's backlog)."""
        env = self.world.env
        if not self.remote:
            yield env.all_of(self._handlers)
            return
        after = env.event()
        after.succeed()
        assert self.broker is not None and self.group is not None and self.consumer is not None
        yield until_drained(self.world, self.broker, self.group, [self.consumer], after)

    def _link(self, a: str, b: str) -> Link:
        link = self._links.get((a, b))
        if link is None:
            link = self._links[(a, b)] = Link(self.world, f"{a}->{b}", self.net)
        return link

    # -- one boundary's step -------------------------------------------------------------------
    def step(self, boundary: str, op: str, rid: str) -> Generator[simpy.Event, Any, tuple[str, str]]:
        """Run ``op`` of ``boundary`` for request ``rid``; answer ("ok", "") or ("error", why)."""
        env = self.world.env
        try:
            yield env.timeout(self.work.sample(self.world.rng(f"{boundary}/work")))
            yield from getattr(self, f"_{op}")(boundary, rid)
        except ClientError as err:
            why = str(err)
            self.world.record(boundary, "step_failed", msg_id=rid, detail=f"{op}: {why}")
            return "error", why
        return "ok", ""

    def _ask(self, caller: str, callee: str, op: str, rid: str) -> Generator[simpy.Event, Any, None]:
        """A boundary asks another: a function call in the monolith, a network round trip in services."""
        if not self.remote:
            status, why = yield from self.step(callee, op, rid)
        else:
            self.world.record(caller, "remote_call", msg_id=rid, detail=f"{callee}.{op}")
            try:
                status, why = yield from call(self.world, self._link(caller, callee), self._link(callee, caller),
                                              lambda r: self.step(callee, op, r), rid, self.call_timeout)
            except RequestTimeout:
                status, why = "error", "timeout"
        if status != "ok":
            raise ClientError(f"{callee}: {why}")

    def _write(self, boundary: str, rid: str, value: Any) -> Generator[simpy.Event, Any, None]:
        tx = self.dbs[boundary].transaction(owner=boundary, msg_id=rid)
        tx.put(TABLES[boundary], rid, value)
        yield from tx.commit()

    def _read(self, boundary: str, rid: str) -> Generator[simpy.Event, Any, None]:
        yield from self.dbs[boundary].read(TABLES[boundary], rid)

    def _publish(self, boundary: str, event: str, rid: str) -> Generator[simpy.Event, Any, None]:
        if not self.remote:  # in-process bus: the handler runs later, on its own
            self._handlers.append(self.world.env.process(self.step("notifications", "notify", rid)))
            return
        yield self.producers[boundary].send(TOPICS[event], event, key=rid, msg_id=rid)

    def _on_record(self, record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        yield from self.step("notifications", "notify", record.msg_id)

    # -- the operations, one per boundary and request type ------------------------------------
    def _place_order(self, b: str, rid: str) -> Generator[simpy.Event, Any, None]:
        yield from self._ask(b, "customers", "lookup", rid)
        yield from self._ask(b, "inventory", "reserve", rid)
        yield from self._ask(b, "billing", "invoice", rid)
        yield from self._write(b, rid, "placed")
        yield from self._publish(b, "OrderPlaced", rid)

    def _update_profile(self, b: str, rid: str) -> Generator[simpy.Event, Any, None]:
        yield from self._write(b, rid, "profile")
        yield from self._publish(b, "CustomerUpdated", rid)

    def _notify(self, b: str, rid: str) -> Generator[simpy.Event, Any, None]:
        yield from self._write(b, rid, "sent")
        self.world.record(b, "notification_sent", msg_id=rid)

    def _lookup(self, b: str, rid: str) -> Generator[simpy.Event, Any, None]:
        yield from self._read(b, rid)

    def _reserve(self, b: str, rid: str) -> Generator[simpy.Event, Any, None]:
        yield from self._write(b, rid, "reserved")

    def _invoice(self, b: str, rid: str) -> Generator[simpy.Event, Any, None]:
        yield from self._write(b, rid, "invoiced")

    _check_stock = _lookup
    _list_invoices = _lookup
    _get_preferences = _lookup


# -- checkers: pure functions over the trace ---------------------------------------------------
def affected_boundaries(trace: pd.DataFrame) -> list[str]:
    """The boundaries that had at least one step fail (``step_failed`` rows), in :data:`BOUNDARIES` order."""
    failed = set(trace.loc[trace["event"] == "step_failed", "component"].astype(str))
    return [b for b in BOUNDARIES if b in failed]


def infrastructure(trace: pd.DataFrame) -> pd.Series:
    """The things there are to run: one per ``deployed`` row, component -> kind."""
    rows = trace[trace["event"] == "deployed"].drop_duplicates("component")
    return pd.Series(rows["detail"].to_numpy(), index=rows["component"].astype(str).to_numpy(), name="kind")


# -- parameter helpers -----------------------------------------------------------------------


def _db_window(value: Any) -> tuple[str, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or len(value) != 3 or value[0] not in BOUNDARIES:
        raise ConfigError("db_outage", value, f"None or (boundary, start, duration) with boundary one of "
                                              f"{list(BOUNDARIES)}")
    start, duration = check_window("db_outage", tuple(value[1:]))  # type: ignore[misc]
    return str(value[0]), start, duration
