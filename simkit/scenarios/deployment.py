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
from dataclasses import dataclass, field
from typing import Any, Generator

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import exponential, lognormal
from ..errors import ClientError, ConfigError, RequestTimeout
from ..glossary import PERCENTILES, register
from ..groups import ConsumerGroup
from ..network import Link, call
from ..params import Params, check_window, count, distribution, ms, positive, window
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import client_param, latency_fields, until_drained
from .publish import failed_requests
from .registry import scenario

__all__ = [
    "BOUNDARIES", "DESIGNS", "FIELDS", "REQUEST_TYPES", "Application", "DeploymentParams", "affected_boundaries",
    "check_db_outage", "clients", "deployment", "infrastructure",
]

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


def check_db_outage(param: str, value: Any) -> tuple[str, float, float] | None:
    """None, or ``(boundary, start, duration)``: the outage of one boundary's database."""
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or len(value) != 3 or value[0] not in BOUNDARIES:
        raise ConfigError(param, value, f"None or (boundary, start, duration) with boundary one of "
                                              f"{list(BOUNDARIES)}")
    start, duration = check_window(param, tuple(value[1:]))  # type: ignore[misc]
    return str(value[0]), start, duration


@dataclass(frozen=True)
class DeploymentParams(Params):
    """The parameters of :func:`deployment` (times in ms)."""

    requests: int = count(300, high=100_000, doc="client requests")
    arrival_rate: float = positive(0.1, high=10.0, doc="requests per ms (0.1 is 100 a second)")
    instances: int = count(2, high=100, doc="copies of each deployable (only what there is to run)")
    broker_nodes: int = count(3, high=100, doc="broker nodes in services (only what there is to run)")
    work_time: Any = distribution(exponential(1), doc="each boundary step's computing")
    db_latency: Any = distribution(lognormal(median=2, p99=10), doc="each database read or commit")
    network_latency: Any = distribution(lognormal(median=5, p99=60), doc="services: each call, answer, publish")
    client_latency: Any = distribution(10, doc="the client's hop to the application, each way")
    call_timeout: float = ms(1000, strict=True, doc="a call between services gives up after this")
    publish_timeout: float = ms(1000, strict=True, doc="the producer's delivery.timeout.ms")
    client_timeout: float = ms(5000, strict=True, doc="the client gives up after this")
    broker_outage: tuple[float, float] | None = window(doc="(start, duration) of a broker outage")
    db_outage: tuple[str, float, float] | None = field(default=None, metadata={
        "check": check_db_outage, "doc": "(boundary, start, duration) of one boundary's database outage"})
    max_time: float = ms(600_000, strict=True, doc="the run stops here even if work is left")
    client: str = client_param()


FIELDS = (
    "requests", "succeeded", "failed_requests", *(f"latency_{s}" for s in PERCENTILES), "infrastructure_parts",
    "app_instances", "databases", "brokers", "remote_calls", "notifications_sent", "affected_boundaries",
    *(f"affected_{b}" for b in BOUNDARIES), "duration",
)
register("infrastructure_parts", "parts", "things there are to run: app instances, databases and broker nodes")
register("app_instances", "instances", "application instances to run")
register("databases", "databases", "databases to run")
register("brokers", "nodes", "broker nodes to run")
register("notifications_sent", "messages", "distinct requests the notifications boundary sent a message for")
register("affected_boundaries", "boundaries", "boundaries with at least one failed step")
for _b in BOUNDARIES:
    register(f"affected_{_b}", "0/1", f"1 if a step of the {_b} boundary failed")


@scenario("deployment", designs=DESIGNS, params=DeploymentParams, fields=FIELDS, lesson="11",
          legacy_positional=("design", "seed"))
def deployment(p: DeploymentParams) -> RunResult:
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

    Report fields (see :mod:`simkit.glossary`): ``requests``, ``succeeded``,
    ``failed_requests``, ``latency_*`` (ms, request to successful answer),
    ``infrastructure_parts`` (app instances + databases + broker nodes),
    ``app_instances``, ``databases``, ``brokers``, ``remote_calls`` (network calls
    between boundaries per request), ``notifications_sent``,
    ``affected_boundaries`` (how many) and ``affected_<boundary>`` (1 or 0) for each
    of :data:`BOUNDARIES`, and ``duration`` (ms). Checks: ``failed_requests``
    and ``affected`` (examples: the affected boundaries).
    """
    # build and wire: the boundaries, deployed as the design says, and the outages asked for
    world = World(p.seed)
    env = world.env
    app = Application(world, p)
    if p.broker_outage is not None and app.broker is not None:
        app.broker.outage(*p.broker_outage)
    if p.db_outage is not None:
        app.dbs[p.db_outage[0]].outage(*p.db_outage[1:])

    # run
    world.run(until=env.process(clients(world, app, p)) | env.timeout(p.max_time))

    # check: everything below reads the trace
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
    found = {"failed_requests": failed,
             "affected": checks.Check("affected", len(hit), tuple(hit), "boundaries with a failed step")}
    return RunResult("deployment", p.seed, p.to_dict(), Report(**fields), found, {}, world.trace)


def clients(world: World, app: Application, p: DeploymentParams) -> Generator[simpy.Event, Any, None]:
    """The clients: ``requests`` requests as a Poisson stream, each type drawn from the mix; then the events handled."""
    env = world.env
    rng = world.rng("arrivals")
    mix = world.rng("clients/mix")
    kinds = list(REQUEST_TYPES)
    weights = [REQUEST_TYPES[k][1] for k in kinds]
    answered: list[simpy.Process] = []
    for i in range(p.requests):
        yield env.timeout(rng.expovariate(p.arrival_rate))
        kind = mix.choices(kinds, weights)[0]
        answered.append(env.process(app.client_request(f"req-{i}", kind)))
    yield env.all_of(answered)
    yield from app.settle()


class Application:
    """The five boundaries' code, wired in-process (monolith) or over the network (services)."""

    def __init__(self, world: World, p: DeploymentParams):
        self.world = world
        self.remote = p.design == "services"
        self.work = p.work_time
        self.net = p.network_latency
        self.call_timeout = p.call_timeout
        self.client_timeout = p.client_timeout
        db_lat, net, instances, publish_timeout = p.db_latency, p.network_latency, p.instances, p.publish_timeout
        self._links: dict[tuple[str, str], Link] = {}
        # the client's hop to the application (its load balancer or API gateway): the same in both designs
        self.to_app = Link(world, "client->app", p.client_latency)
        self.from_app = Link(world, "app->client", p.client_latency)
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
        for i in range(p.broker_nodes):
            deploy(f"broker-{i}", "deployed", detail="broker node")
        for topic in TOPICS.values():
            self.broker.create_topic(topic, 3)
        for b in ("customers", "orders"):
            self.producers[b] = Producer(world, self.broker, f"{b}-producer", client=p.client, latency=net,
                                         request_timeout=publish_timeout, delivery_timeout=publish_timeout)
        self.group = ConsumerGroup(world, self.broker, "notifications")
        self.consumer = Consumer(world, self.broker, "notifications-consumer", list(TOPICS.values()),
                                 self._on_record, client=p.client, group=self.group, commit="after_processing",
                                 fetch_latency=net, auto_offset_reset="earliest")

    # -- the edge: a client's request and its answer ------------------------------------------
    def client_request(self, rid: str, kind: str) -> Generator[simpy.Event, Any, None]:
        """One client request of type ``kind``: to the boundary that answers it and back, or an error."""
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
