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

:func:`call_chain`: a user's request has work in ``hops`` services.

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
from typing import Any, Generator

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import DistributionLike, as_distribution, lognormal
from ..groups import ConsumerGroup
from ..network import Link, Server, call
from ..outbox import Outbox, Relay
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World, check_seed
from ._common import check_choice, check_count, check_positive, latency_fields
from .profile_update import caught_up

__all__ = ["CHAIN_DESIGNS", "DESIGNS", "call_chain", "completion_times", "request_response"]

DESIGNS: tuple[str, ...] = ("rpc", "broker")
CHAIN_DESIGNS: tuple[str, ...] = ("sync_chain", "write_then_events")

REQUESTS, REPLIES = "requests", "replies"
CHAIN_EVENTS = "work-requested"


def request_response(
    design: str,
    seed: int = 0,
    *,
    requests: int = 300,
    arrival_rate: float = 0.05,
    service_time: DistributionLike = lognormal(median=10, p99=80),
    workers: int = 4,
    network_latency: DistributionLike = lognormal(median=1, p99=10),
    fetch_latency: DistributionLike = lognormal(median=5, p99=60),
    consumer_overhead: DistributionLike = 1,
    partitions: int = 3,
    max_time: float = 600_000,
) -> RunResult:
    """A sends ``requests`` requests to B (Poisson, ``arrival_rate`` per ms) and waits for each answer.

    ``service_time`` is B's work per request, on ``workers`` workers (a queue when they
    are busy). ``network_latency`` is each one-way leg: A to B and back for ``"rpc"``;
    each produce to the broker (and its acknowledgement) for ``"broker"``, where each
    consumer poll also pays ``fetch_latency`` and each record ``consumer_overhead``
    (ms). Both topics have ``partitions`` partitions, keyed by request id.

    Report fields: ``requests``, ``answered``, ``latency_mean``, ``latency_p50``,
    ``latency_p95``, ``latency_p99``, ``latency_max`` (ms from A needing the answer to
    A having it, read from the trace's ``request`` and ``responded`` rows) and
    ``duration`` (ms).
    Checks: ``unanswered``.
    """
    check_choice("design", design, DESIGNS)
    seed = check_seed(seed)
    requests = check_count("requests", requests, 1, 100_000)
    lam = check_positive("arrival_rate", arrival_rate)
    service = as_distribution("service_time", service_time)
    workers = check_count("workers", workers, 1, 1000)
    net = as_distribution("network_latency", network_latency)
    fetch = as_distribution("fetch_latency", fetch_latency)
    overhead = as_distribution("consumer_overhead", consumer_overhead)
    partitions = check_count("partitions", partitions, 1, 100)
    max_time = check_positive("max_time", max_time)
    params: dict[str, Any] = dict(
        design=design, requests=requests, arrival_rate=lam, service_time=service, workers=workers,
        network_latency=net, fetch_latency=fetch, consumer_overhead=overhead, partitions=partitions,
        max_time=max_time)

    world = World(seed)
    env = world.env
    b = Server(world, "service-b", service, capacity=workers)
    waiting: dict[str, simpy.Event] = {}

    def b_work(rid: str) -> Generator[simpy.Event, Any, None]:
        yield from b.serve()
        world.record("service-b", "served", msg_id=rid)

    if design == "rpc":
        a_to_b, b_to_a = Link(world, "service-a->service-b", net), Link(world, "service-b->service-a", net)

        def ask(rid: str) -> Generator[simpy.Event, Any, None]:
            world.record("service-a", "remote_call", msg_id=rid, detail="service-b.answer")
            yield from call(world, a_to_b, b_to_a, lambda _r: b_work(rid), rid)
    else:
        broker = Broker(world)
        broker.create_topic(REQUESTS, partitions)
        broker.create_topic(REPLIES, partitions)
        a_producer = Producer(world, broker, "service-a-producer", latency=net)
        b_producer = Producer(world, broker, "service-b-producer", latency=net)

        def answer(record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
            yield from b_work(record.key)
            b_producer.send(REPLIES, "Answer", key=record.key, msg_id=f"{record.key}/reply")

        def deliver(record: Record, ctx: Context) -> None:
            waiting.pop(record.key).succeed()

        Consumer(world, broker, "service-b-consumer", REQUESTS, answer, group="service-b",
                 commit="after_processing", workers=workers, fetch_latency=fetch, processing_time=overhead,
                 auto_offset_reset="earliest")
        Consumer(world, broker, "service-a-replies", REPLIES, deliver, group="service-a",
                 commit="after_processing", fetch_latency=fetch, processing_time=overhead,
                 auto_offset_reset="earliest")

        def ask(rid: str) -> Generator[simpy.Event, Any, None]:
            waiting[rid] = env.event()
            a_producer.send(REQUESTS, "Question", key=rid, msg_id=rid)
            yield waiting[rid]

    def need_answer(rid: str) -> Generator[simpy.Event, Any, None]:
        world.record("service-a", "request", msg_id=rid)
        yield from ask(rid)
        world.record("service-a", "responded", msg_id=rid)

    done: list[simpy.Process] = []

    def arrivals() -> Generator[simpy.Event, Any, None]:
        rng = world.rng("service-a/arrivals")
        for i in range(requests):
            yield env.timeout(rng.expovariate(lam))
            done.append(env.process(need_answer(f"req-{i}")))
        yield env.all_of(done)

    world.run(until=env.process(arrivals()) | env.timeout(max_time))

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
    return RunResult("request_response", seed, params, Report(**fields), found, {}, world.trace)


def call_chain(
    hops: int,
    design: str,
    seed: int = 0,
    *,
    requests: int = 200,
    arrival_rate: float = 0.005,
    service_time: DistributionLike = lognormal(median=60, p99=600),
    network_latency: DistributionLike = lognormal(median=5, p99=80),
    db_latency: DistributionLike = lognormal(median=3, p99=30),
    fetch_latency: DistributionLike = lognormal(median=5, p99=60),
    workers: int = 64,
    poll_interval: float = 50,
    drain: float = 60_000,
) -> RunResult:
    """A request whose work lies in ``hops`` services (1 to 20), as a chain of calls or as a write and events.

    Requests arrive as a Poisson stream (``arrival_rate`` per ms). Every service does
    ``service_time`` of work (its own random stream, so both designs draw alike) on
    ``workers`` workers; a worker stays busy while it waits for the next hop, as a
    thread blocked on a call does. ``network_latency`` is each one-way leg (the client's
    included); service 0 commits its own write (``db_latency``). In
    ``"write_then_events"`` the relay polls the outbox every ``poll_interval`` ms and
    each consumer poll pays ``fetch_latency``. After the last answer the run waits up to
    ``drain`` ms for the events to be handled.

    Report fields: ``hops``, ``requests``, ``answered``, ``latency_mean``,
    ``latency_p50``, ``latency_p95``, ``latency_p99``, ``latency_max`` (ms, request to
    answer), ``completion_mean``, ``completion_p50``, ``completion_p99`` (ms, request
    to the last service done with it), ``remote_calls`` (per request, the client's
    included) and ``duration`` (ms). Checks: ``unanswered``, ``unfinished`` (requests
    some service never did its part of).

    To compare designs over hops and seeds, sweep both:
    ``sk.sweep("call_chain", {"hops": [1, 2, 4, 8], "design": list(CHAIN_DESIGNS)}, seeds=3)``.
    """
    hops = check_count("hops", hops, 1, 20)
    check_choice("design", design, CHAIN_DESIGNS)
    seed = check_seed(seed)
    requests = check_count("requests", requests, 1, 100_000)
    lam = check_positive("arrival_rate", arrival_rate)
    service = as_distribution("service_time", service_time)
    net = as_distribution("network_latency", network_latency)
    db_lat = as_distribution("db_latency", db_latency)
    fetch = as_distribution("fetch_latency", fetch_latency)
    workers = check_count("workers", workers, 1, 10_000)
    poll_interval = check_positive("poll_interval", poll_interval)
    drain = check_positive("drain", drain, allow_zero=True)
    params: dict[str, Any] = dict(
        hops=hops, design=design, requests=requests, arrival_rate=lam, service_time=service,
        network_latency=net, db_latency=db_lat, fetch_latency=fetch, workers=workers,
        poll_interval=poll_interval, drain=drain)

    world = World(seed)
    env = world.env
    names = [f"service-{i}" for i in range(hops)]
    servers = [Server(world, n, service, capacity=workers) for n in names]
    db = Database(world, "service-0-db", commit_latency=db_lat)
    db.create_table("service0.requests")
    fan_out = design == "write_then_events" and hops > 1
    broker: Broker | None = None
    outbox: Outbox | None = None
    groups: list[ConsumerGroup] = []
    if fan_out:
        broker = Broker(world)
        broker.create_topic(CHAIN_EVENTS, 3)
        outbox = Outbox(db, "service0.outbox")
        Relay(world, outbox, Producer(world, broker, "relay-producer", latency=net), poll_interval=poll_interval)
        for i in range(1, hops):
            groups.append(ConsumerGroup(world, broker, names[i]))
            Consumer(world, broker, f"{names[i]}-consumer", CHAIN_EVENTS, _part(world, servers[i]),
                     group=groups[-1], commit="after_processing", fetch_latency=fetch,
                     auto_offset_reset="earliest")

    def link(a: str, b: str) -> Link:
        return Link(world, f"{a}->{b}", net)

    legs = [(link("client", names[0]), link(names[0], "client"))] + [
        (link(names[i], names[i + 1]), link(names[i + 1], names[i])) for i in range(hops - 1)]

    def hop(i: int, rid: str) -> Generator[simpy.Event, Any, None]:
        """Service i's part of the request; in the chain, then the call to service i+1."""
        def work() -> Generator[simpy.Event, Any, None]:
            if i == 0:
                tx = db.transaction(owner="service0", msg_id=rid)
                tx.put("service0.requests", rid, "accepted")
                if outbox is not None:
                    outbox.add(tx, rid, CHAIN_EVENTS, key=rid, payload="WorkRequested")
                yield from tx.commit()
            world.record(names[i], "served", msg_id=rid, detail=f"hop {i}")
            if design == "sync_chain" and i + 1 < hops:
                world.record(names[i], "remote_call", msg_id=rid, detail=f"{names[i + 1]}.work")
                yield from call(world, *legs[i + 1], lambda _r: hop(i + 1, rid), rid)
        yield from servers[i].serve(work)

    answered: list[simpy.Process] = []

    def client(rid: str) -> Generator[simpy.Event, Any, None]:
        world.record("client", "request", msg_id=rid, detail=f"{hops} hops")
        world.record("client", "remote_call", msg_id=rid, detail=f"{names[0]}.work")
        yield from call(world, *legs[0], lambda _r: hop(0, rid), rid)
        world.record("client", "responded", msg_id=rid)

    def arrivals() -> Generator[simpy.Event, Any, None]:
        rng = world.rng("client/arrivals")
        for i in range(requests):
            yield env.timeout(rng.expovariate(lam))
            answered.append(env.process(client(f"req-{i}")))
        yield env.all_of(answered)
        deadline = env.now + drain
        while broker is not None and env.now < deadline and not (
                outbox is not None and outbox.lag() == 0 and caught_up(broker, groups, CHAIN_EVENTS)):
            yield env.timeout(20)

    world.run(until=env.process(arrivals()))

    trace = world.trace.to_frame()
    lat = checks.latencies(trace, "request", "responded")
    done = completion_times(trace)
    unanswered = checks.lost(trace, "request", "responded")
    ev = trace["event"]
    n = int((ev == "request").sum())
    served = trace[ev == "served"].groupby("msg_id")["component"].nunique()
    unfinished = [m for m in trace.loc[ev == "request", "msg_id"] if served.get(m, 0) < hops]
    comp = latency_fields(done, "completion")
    fields: dict[str, float] = dict(
        hops=hops,
        requests=n,
        answered=int(lat.size),
        **latency_fields(lat),
        completion_mean=comp["completion_mean"], completion_p50=comp["completion_p50"],
        completion_p99=comp["completion_p99"],
        remote_calls=float((ev == "remote_call").sum()) / n if n else math.nan,
        duration=float(env.now),
    )
    found = {
        "unanswered": checks.Check("unanswered", unanswered.count, unanswered.examples, "requests never answered"),
        "unfinished": checks.Check("unfinished", len(unfinished), tuple(unfinished[:checks.EXAMPLES]),
                                   f"requests some of the {hops} services never did their part of"),
    }
    return RunResult("call_chain", seed, params, Report(**fields), found, {}, world.trace)


def _part(world: World, server: Server) -> Any:
    """A downstream service's handler: do its part of the request the event is about."""
    def handle(record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        def work() -> Generator[simpy.Event, Any, None]:
            world.record(server.name, "served", msg_id=record.msg_id, detail="from event")
            yield from ()
        yield from server.serve(work)
    return handle


def completion_times(trace: pd.DataFrame) -> pd.Series:
    """Per request, ms from the client's ``request`` row to the last ``served`` row about it."""
    ev = trace["event"]
    start = trace[ev == "request"].drop_duplicates("msg_id").set_index("msg_id")["time"]
    last = trace[ev == "served"].groupby("msg_id")["time"].max()
    both = start.index.intersection(last.index)
    return (last.loc[both] - start.loc[both]).rename("completion_ms")
