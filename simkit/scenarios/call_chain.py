"""A user's request whose work lies in ``hops`` services: a chain of calls, or one write and events.

``"sync_chain"``
    service 0 does its part, then calls service 1 and waits, which calls service 2 and
    waits, ... Every hop is a network round trip plus a long-tailed service time, and
    the user waits for all of them: the mean grows with each hop and the tail by more
    milliseconds still, because one slow hop is enough to make the request slow.
``"write_then_events"``
    service 0 does its part, commits its own write with an outbox row for a
    ``WorkRequested`` event in the same transaction, and answers. The other services
    consume the event (each its own consumer group) and do their parts in parallel,
    after the answer. The user waits for one hop whatever ``hops`` is; the work still
    gets done (``completion_*`` says when).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generator

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import lognormal
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
from .registry import scenario

__all__ = [
    "DESIGNS", "FIELDS", "CallChainParams", "Chain", "call_chain", "chain_arrivals", "client", "completion_times",
]

DESIGNS: tuple[str, ...] = ("sync_chain", "write_then_events")

CHAIN_EVENTS = "work-requested"
REQUESTS_TABLE = "service0.requests"


@dataclass(frozen=True)
class CallChainParams(Params):
    """The parameters of :func:`call_chain` (times in ms)."""

    hops: int = count(4, high=20, doc="services the request's work lies in")
    requests: int = count(200, high=100_000, doc="user requests")
    arrival_rate: float = positive(0.005, high=10.0, doc="requests per ms (0.005 is 5 a second)")
    service_time: Any = distribution(lognormal(median=60, p99=600), doc="each service's work per request")
    network_latency: Any = distribution(lognormal(median=5, p99=80), doc="each one-way leg, the client's included")
    db_latency: Any = distribution(lognormal(median=3, p99=30), doc="service 0's commit")
    fetch_latency: Any = distribution(lognormal(median=5, p99=60), doc="each consumer poll (write_then_events)")
    workers: int = count(64, high=10_000, doc="workers per service; one waiting on a call stays busy")
    poll_interval: float = ms(50, strict=True, doc="the relay polls the outbox this often (write_then_events)")
    drain: float = ms(60_000, doc="after the last answer, wait this long for the events to be handled")
    client: str = client_param()

    def check(self) -> None:
        check_steps("poll_interval", self.poll_interval, self.requests / self.arrival_rate + self.drain)


FIELDS = ("hops", "requests", "answered", *(f"latency_{s}" for s in PERCENTILES),
          *(f"completion_{s}" for s in PERCENTILES), "remote_calls", "duration")
register("hops", "services", "services a request's work lies in (the parameter, repeated in the report)")


@scenario("call_chain", designs=DESIGNS, params=CallChainParams, fields=FIELDS, lesson="02",
          legacy_positional=("hops", "design", "seed"))
def call_chain(p: CallChainParams) -> RunResult:
    """A request whose work lies in ``hops`` services (1 to 20), as a chain of calls or as a write and events.

    Requests arrive as a Poisson stream (``arrival_rate`` per ms). Every service does
    ``service_time`` of work (its own random stream, so both designs draw alike) on
    ``workers`` workers; a worker stays busy while it waits for the next hop, as a
    thread blocked on a call does. ``network_latency`` is each one-way leg (the client's
    included); service 0 commits its own write (``db_latency``). In
    ``"write_then_events"`` the relay polls the outbox every ``poll_interval`` ms and
    each consumer poll pays ``fetch_latency``. After the last answer the run waits up to
    ``drain`` ms for the events to be handled.

    Report fields (see :mod:`simkit.glossary`): ``hops``, ``requests``, ``answered``,
    ``latency_*`` (ms, request to answer), ``completion_*`` (ms, request to the last
    service done with it), ``remote_calls`` (per request, the client's included) and
    ``duration`` (ms). Checks: ``unanswered``, ``unfinished`` (requests some service
    never did its part of).

    To compare designs over hops and seeds, sweep both:
    ``sk.sweep("call_chain", {"hops": [1, 2, 4, 8], "design": list(DESIGNS)}, seeds=3)``.
    """
    # build and wire: the services, service 0's database, and for events the broker, relay and consumers
    world = World(p.seed)
    env = world.env
    chain = Chain(world, p)

    # run
    world.run(until=env.process(chain_arrivals(world, chain, p)))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    lat = checks.latencies(trace, "request", "responded")
    unanswered = checks.lost(trace, "request", "responded")
    ev = trace["event"]
    n = int((ev == "request").sum())
    served = trace[ev == "served"].groupby("msg_id")["component"].nunique()
    unfinished = [m for m in trace.loc[ev == "request", "msg_id"] if served.get(m, 0) < p.hops]
    fields: dict[str, float] = dict(
        hops=p.hops,
        requests=n,
        answered=int(lat.size),
        **latency_fields(lat),
        **latency_fields(completion_times(trace), "completion"),
        remote_calls=float((ev == "remote_call").sum()) / n if n else math.nan,
        duration=float(env.now),
    )
    found = {
        "unanswered": checks.Check("unanswered", unanswered.count, unanswered.examples, "requests never answered"),
        "unfinished": checks.Check("unfinished", len(unfinished), tuple(unfinished[:checks.EXAMPLES]),
                                   f"requests some of the {p.hops} services never did their part of"),
    }
    return RunResult("call_chain", p.seed, p.to_dict(), Report(**fields), found, {}, world.trace)


class Chain:
    """The ``hops`` services of one request, and how the design joins them.

    In ``"sync_chain"`` each service calls the next and waits; in ``"write_then_events"``
    service 0 commits its write with a ``WorkRequested`` outbox row and the others
    consume that event, each in its own group.
    """

    def __init__(self, world: World, p: CallChainParams):
        self.world = world
        self.design = p.design
        self.names = [f"service-{i}" for i in range(p.hops)]
        self.servers = [Server(world, n, p.service_time, capacity=p.workers) for n in self.names]
        self.db = Database(world, "service-0-db", commit_latency=p.db_latency)
        self.db.create_table(REQUESTS_TABLE)
        self.broker: Broker | None = None
        self.outbox: Outbox | None = None
        self.groups: list[ConsumerGroup] = []
        if p.design == "write_then_events" and p.hops > 1:
            self.broker = Broker(world)
            self.broker.create_topic(CHAIN_EVENTS, 3)
            self.outbox = Outbox(self.db, "service0.outbox")
            Relay(world, self.outbox, Producer(world, self.broker, "relay-producer", client=p.client,
                                               latency=p.network_latency), poll_interval=p.poll_interval)
            for i in range(1, p.hops):
                self.groups.append(ConsumerGroup(world, self.broker, self.names[i]))
                Consumer(world, self.broker, f"{self.names[i]}-consumer", CHAIN_EVENTS, self.from_event(i),
                         client=p.client, group=self.groups[-1], commit="after_processing",
                         fetch_latency=p.fetch_latency, auto_offset_reset="earliest")
        names = self.names
        self.legs = [self._legs("client", names[0], p)] + [self._legs(names[i], names[i + 1], p)
                                                             for i in range(p.hops - 1)]

    def _legs(self, a: str, b: str, p: CallChainParams) -> tuple[Link, Link]:
        return Link(self.world, f"{a}->{b}", p.network_latency), Link(self.world, f"{b}->{a}", p.network_latency)

    def hop(self, i: int, rid: str) -> Generator[simpy.Event, Any, None]:
        """Service ``i``'s part of request ``rid``; in the chain, then the call to service ``i + 1``."""
        world, names = self.world, self.names

        def work() -> Generator[simpy.Event, Any, None]:
            if i == 0:
                tx = self.db.transaction(owner="service0", msg_id=rid)
                tx.put(REQUESTS_TABLE, rid, "accepted")
                if self.outbox is not None:
                    self.outbox.add(tx, rid, CHAIN_EVENTS, key=rid, payload="WorkRequested")
                yield from tx.commit()
            world.record(names[i], "served", msg_id=rid, detail=f"hop {i}")
            if self.design == "sync_chain" and i + 1 < len(names):
                world.record(names[i], "remote_call", msg_id=rid, detail=f"{names[i + 1]}.work")
                yield from call(world, *self.legs[i + 1], lambda _r: self.hop(i + 1, rid), rid)
        yield from self.servers[i].serve(work)

    def from_event(self, i: int) -> Any:
        """Service ``i``'s handler of ``WorkRequested``: do its part of the request the event is about."""
        server = self.servers[i]

        def handle(record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
            def work() -> Generator[simpy.Event, Any, None]:
                self.world.record(server.name, "served", msg_id=record.msg_id, detail="from event")
                yield from ()
            yield from server.serve(work)
        return handle

    def done(self) -> bool:
        """True when no event is left to hand out: the outbox is empty and every group caught up."""
        return self.broker is None or (self.outbox is not None and self.outbox.lag() == 0
                                       and caught_up(self.broker, self.groups, CHAIN_EVENTS))


def client(world: World, chain: Chain, rid: str) -> Generator[simpy.Event, Any, None]:
    """One user request: call service 0 and wait for its answer."""
    world.record("client", "request", msg_id=rid, detail=f"{len(chain.names)} hops")
    world.record("client", "remote_call", msg_id=rid, detail=f"{chain.names[0]}.work")
    yield from call(world, *chain.legs[0], lambda _r: chain.hop(0, rid), rid)
    world.record("client", "responded", msg_id=rid)


def chain_arrivals(world: World, chain: Chain, p: CallChainParams) -> Generator[simpy.Event, Any, None]:
    """The users' requests as a Poisson stream; then every answer, then the events handled (up to ``drain``)."""
    env = world.env
    rng = world.rng("client/arrivals")
    answered: list[simpy.Process] = []
    for i in range(p.requests):
        yield env.timeout(rng.expovariate(p.arrival_rate))
        answered.append(env.process(client(world, chain, f"req-{i}")))
    yield env.all_of(answered)
    deadline = env.now + p.drain
    while chain.broker is not None and env.now < deadline and not chain.done():
        yield env.timeout(20)


def completion_times(trace: pd.DataFrame) -> pd.Series:
    """Per request, ms from the client's ``request`` row to the last ``served`` row about it."""
    ev = trace["event"]
    start = trace[ev == "request"].drop_duplicates("msg_id").set_index("msg_id")["time"]
    last = trace[ev == "served"].groupby("msg_id")["time"].max()
    both = start.index.intersection(last.index)
    return (last.loc[both] - start.loc[both]).rename("completion_ms")
