"""When the caller needs the answer: a direct call, a round trip through a broker, a chain of calls.

:func:`request_response`: service A cannot go on without an answer from service B.

``"rpc"``
    A calls B over the network (:func:`simkit.network.call`): one leg there, B's
    work, one leg back.
``"broker"``
    A produces a request record to the ``requests`` topic; B's consumer polls it
    (each poll pays ``fetch_latency``, each record ``consumer_overhead``), B does the
    same work, produces a reply record to ``replies``; A's own consumer polls that and
    hands the reply to the waiting request. It is the same request and the same
    answer as the call, with two produces and two polls in the way: an RPC over a
    broker, slower and with a longer tail, and none of what a broker is good for
    (nobody else wants these records).

B has the same service time (same draws, from B's own random stream) and the same
number of workers in both designs; only the path differs.

For a request whose work lies in several services see :mod:`simkit.scenarios.call_chain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator

import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..distributions import lognormal
from ..glossary import PERCENTILES
from ..network import Link, Server, call
from ..params import Params, count, distribution, ms, positive
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import client_param, latency_fields
from .registry import scenario

__all__ = [
    "DESIGNS", "FIELDS", "BrokerPath", "RequestResponseParams", "RpcPath", "ServiceB", "need_answer",
    "request_response", "service_a",
]

DESIGNS: tuple[str, ...] = ("rpc", "broker")

REQUESTS, REPLIES = "requests", "replies"


@dataclass(frozen=True)
class RequestResponseParams(Params):
    """The parameters of :func:`request_response` (times in ms)."""

    requests: int = count(300, high=100_000, doc="requests A sends to B")
    arrival_rate: float = positive(0.05, high=10.0, doc="requests per ms (0.05 is 50 a second)")
    service_time: Any = distribution(lognormal(median=10, p99=80), doc="B's work per request")
    workers: int = count(4, high=1000, doc="B's workers (a queue when they are busy)")
    network_latency: Any = distribution(lognormal(median=1, p99=10), doc="each one-way leg or produce")
    fetch_latency: Any = distribution(lognormal(median=5, p99=60), doc="each consumer poll (broker design)")
    consumer_overhead: Any = distribution(1, doc="each record a consumer handles (broker design)")
    partitions: int = count(3, high=100, doc="partitions of the requests and replies topics")
    max_time: float = ms(600_000, strict=True, doc="the run stops here even if answers are missing")
    client: str = client_param()


FIELDS = ("requests", "answered", *(f"latency_{s}" for s in PERCENTILES), "duration")


@scenario("request_response", designs=DESIGNS, params=RequestResponseParams, fields=FIELDS, lesson="02",
          legacy_positional=("design", "seed"))
def request_response(p: RequestResponseParams) -> RunResult:
    """A sends ``requests`` requests to B (Poisson, ``arrival_rate`` per ms) and waits for each answer.

    ``service_time`` is B's work per request, on ``workers`` workers (a queue when they
    are busy). ``network_latency`` is each one-way leg: A to B and back for ``"rpc"``;
    each produce to the broker (and its acknowledgement) for ``"broker"``, where each
    consumer poll also pays ``fetch_latency`` and each record ``consumer_overhead``
    (ms). Both topics have ``partitions`` partitions, keyed by request id.

    Report fields (see :mod:`simkit.glossary`): ``requests``, ``answered``,
    ``latency_*`` (ms from A needing the answer to A having it, read from the trace's
    ``request`` and ``responded`` rows) and ``duration`` (ms). Checks: ``unanswered``.
    """
    # build and wire: B, and the path from A to B the design chooses
    world = World(p.seed)
    env = world.env
    b = ServiceB(world, p)
    path: RpcPath | BrokerPath = RpcPath(world, b, p) if p.design == "rpc" else BrokerPath(world, b, p)

    # run
    world.run(until=env.process(service_a(world, path, p)) | env.timeout(p.max_time))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    lat = checks.latencies(trace, "request", "responded")
    unanswered = checks.lost(trace, "request", "responded")
    fields: dict[str, float] = dict(
        requests=int((trace["event"] == "request").sum()),
        answered=int(lat.size),
        **latency_fields(lat),
        duration=float(env.now),
    )
    found = {"unanswered": checks.Check("unanswered", unanswered.count, unanswered.examples,
                                        "requests A never got an answer to")}
    return RunResult("request_response", p.seed, p.to_dict(), Report(**fields), found, {}, world.trace)


class ServiceB:
    """Service B: ``workers`` workers doing ``service_time`` of work per request, the same in both designs."""

    def __init__(self, world: World, p: RequestResponseParams):
        self.world = world
        self.server = Server(world, "service-b", p.service_time, capacity=p.workers)

    def work(self, rid: str) -> Generator[simpy.Event, Any, None]:
        """B's work on request ``rid``, on a free worker."""
        yield from self.server.serve()
        self.world.record("service-b", "served", msg_id=rid)


class RpcPath:
    """``"rpc"``: A calls B over the network, one leg there and one back."""

    def __init__(self, world: World, b: ServiceB, p: RequestResponseParams):
        self.world = world
        self.b = b
        self.to_b = Link(world, "service-a->service-b", p.network_latency)
        self.to_a = Link(world, "service-b->service-a", p.network_latency)

    def ask(self, rid: str) -> Generator[simpy.Event, Any, None]:
        """Call B about ``rid`` and wait for the answer."""
        self.world.record("service-a", "remote_call", msg_id=rid, detail="service-b.answer")
        yield from call(self.world, self.to_b, self.to_a, lambda _r: self.b.work(rid), rid)


class BrokerPath:
    """``"broker"``: a request record to ``requests``, B's consumer, a reply record to ``replies``, A's consumer."""

    def __init__(self, world: World, b: ServiceB, p: RequestResponseParams):
        self.world = world
        self.b = b
        broker = Broker(world)
        broker.create_topic(REQUESTS, p.partitions)
        broker.create_topic(REPLIES, p.partitions)
        self.a_producer = Producer(world, broker, "service-a-producer", client=p.client, latency=p.network_latency)
        self.b_producer = Producer(world, broker, "service-b-producer", client=p.client, latency=p.network_latency)
        self.waiting: dict[str, simpy.Event] = {}
        Consumer(world, broker, "service-b-consumer", REQUESTS, self.answer, client=p.client, group="service-b",
                 commit="after_processing", workers=p.workers, fetch_latency=p.fetch_latency,
                 processing_time=p.consumer_overhead, auto_offset_reset="earliest")
        Consumer(world, broker, "service-a-replies", REPLIES, self.deliver, client=p.client, group="service-a",
                 commit="after_processing", fetch_latency=p.fetch_latency, processing_time=p.consumer_overhead,
                 auto_offset_reset="earliest")

    def answer(self, record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        """B's consumer: do the work, then produce the reply."""
        yield from self.b.work(record.key)
        self.b_producer.send(REPLIES, "Answer", key=record.key, msg_id=f"{record.key}/reply")

    def deliver(self, record: Record, ctx: Context) -> None:
        """A's reply consumer: hand the reply to the request waiting for it."""
        self.waiting.pop(record.key).succeed()

    def ask(self, rid: str) -> Generator[simpy.Event, Any, None]:
        """Produce the request about ``rid`` and wait for its reply to come back."""
        self.waiting[rid] = self.world.env.event()
        self.a_producer.send(REQUESTS, "Question", key=rid, msg_id=rid)
        yield self.waiting[rid]


def need_answer(world: World, path: RpcPath | BrokerPath, rid: str) -> Generator[simpy.Event, Any, None]:
    """One of A's requests: A needs B's answer to ``rid`` before it can go on."""
    world.record("service-a", "request", msg_id=rid)
    yield from path.ask(rid)
    world.record("service-a", "responded", msg_id=rid)


def service_a(world: World, path: RpcPath | BrokerPath, p: RequestResponseParams) -> Generator[simpy.Event, Any, None]:
    """Service A: ``requests`` requests as a Poisson stream, then waits for every answer."""
    env = world.env
    rng = world.rng("service-a/arrivals")
    done: list[simpy.Process] = []
    for i in range(p.requests):
        yield env.timeout(rng.expovariate(p.arrival_rate))
        done.append(env.process(need_answer(world, path, f"req-{i}")))
    yield env.all_of(done)
