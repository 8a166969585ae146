"""A team nobody planned for: adding a new reader of sign-ups, by direct calls or by events.

A sign-up service accepts ``signups`` sign-ups (about one every 10 ms). Two teams act on
each one from the start, ``email`` (the welcome email) and ``billing`` (the free trial).
At ``joins_at`` ms a third team, ``crm``, wants every sign-up too, including the ones made
before it existed. Optionally ``email`` is unreachable for an ``outage`` window.

=================  ==================================================================
``"direct_calls"``  the sign-up service calls each team in turn and waits for each
                    answer (``call_timeout`` ms at most) before it answers the user.
                    Adding ``crm`` is a change to the sign-up service: new code that
                    calls one more team, deployed at ``joins_at`` (a ``deployed`` row).
                    ``crm`` gets only the sign-ups made after the deploy; a call into
                    ``email``'s outage times out, and that sign-up never reaches email.
``"events"``        the sign-up service publishes a ``SignedUp`` record to a topic and
                    answers once the broker acknowledges it. Each team is its own
                    consumer group. ``crm`` subscribes at ``joins_at`` with
                    ``auto_offset_reset="earliest"`` (Kafka's ``auto.offset.reset``: where
                    a group with no committed offset starts; its default is ``latest``),
                    so it reads the topic from offset 0 and catches up; the sign-up
                    service does not change. ``email``'s consumer is down for the
                    outage (a crash, restarted as the same static member, KIP-345) and
                    catches up when it returns.
=================  ==================================================================

How far behind a team is, at any moment, is counted in sign-ups: those accepted so far
minus those the team has handled (for a consumer group that is its consumer lag, counted
at the handler rather than at the commit). Nothing here is decided by dice: latencies,
arrival times and handling times are drawn; a missed sign-up is one whose call fell into
the outage, or that was made before the team was called at all.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import simpy

from .. import checks
from ..broker import Broker
from ..consumer import Consumer, Context
from ..distributions import exponential, uniform
from ..errors import ConfigError, RequestTimeout
from ..glossary import PERCENTILES, register
from ..groups import ConsumerGroup
from ..network import Link, Server, call
from ..params import MAX_STEPS, Params, count, distribution, ms, window
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import client_param, latency_fields
from .registry import scenario

__all__ = ["DESIGNS", "FIELDS", "NEW_TEAM", "TEAMS", "AddConsumerParams", "add_consumer", "behind_series"]

DESIGNS: tuple[str, ...] = ("direct_calls", "events")

#: The teams that act on every sign-up from the start, and the one that arrives at ``joins_at``.
TEAMS: tuple[str, ...] = ("email", "billing")
NEW_TEAM = "crm"
SERVICE = "signup"
TOPIC = "signups"
HANDLED = "side_effect"  # a team did its work for a sign-up (msg_id: the sign-up)
#: How often (ms) the ``behind`` series is sampled.
SAMPLE_EVERY = 20.0

register("producer_changes", "deploys", "changes to the producer's code, deployed, that the run needed")
register("failed_calls", "calls", "calls from the producer to a downstream team that got no answer in time")
register("downstream_missed", "sign-ups", "sign-ups a team present from the start never handled (summed over teams)")
register("new_reader_handled", "sign-ups", "distinct sign-ups the team added later handled")
register("new_reader_missed", "sign-ups", "sign-ups the team added later never handled, history included")
register("new_reader_lag_max", "sign-ups", "the most sign-ups the team added later was behind at once after it "
                                           "joined (accepted so far minus handled)")
register("caught_up_at", "ms", "when the team added later had first handled every sign-up accepted so far "
                               "(NaN if it never did)")


@dataclass(frozen=True)
class AddConsumerParams(Params):
    """The parameters of :func:`add_consumer` (times in ms)."""

    signups: int = count(600, high=100_000, doc="sign-ups the service accepts")
    arrival_interval: Any = distribution(exponential(10), doc="time between two sign-ups")
    joins_at: float = ms(3000, doc="when the crm team arrives (direct calls: the producer's deploy)")
    outage: Any = window(None, doc="(start, duration) ms during which the email team is unreachable, or None")
    handling_time: Any = distribution(uniform(0.5, 1.5), doc="a team's work per sign-up")
    new_handling_time: Any = distribution(uniform(0.5, 1.5), doc="the crm team's work per sign-up")
    network_latency: Any = distribution(uniform(1, 3), doc="each one-way leg: a call, its answer, a send, a fetch")
    call_timeout: float = ms(200, strict=True, doc="how long the producer waits for a team's answer (direct calls)")
    partitions: int = count(3, high=64, doc="partitions of the signups topic (events)")
    max_time: float = ms(600_000, strict=True, high=SAMPLE_EVERY * MAX_STEPS,
                         doc="the run stops here if the teams have not caught up")
    client: str = client_param()

    def check(self) -> None:
        if self.joins_at >= self.max_time:
            raise ConfigError("joins_at", self.joins_at, f"a time before max_time={self.max_time:g} ms")


FIELDS = ("requests", "producer_changes", "failed_calls", "downstream_missed", "new_reader_handled",
          "new_reader_missed", "new_reader_lag_max", "caught_up_at", *(f"latency_{s}" for s in PERCENTILES),
          "duration")


class Wiring:
    """How the sign-up service reaches the teams: one subclass per design, overriding :meth:`tell`."""

    def __init__(self, world: World, p: AddConsumerParams):
        self.world = world
        self.p = p
        self.teams = list(TEAMS)  # whom the sign-up service's code knows about

    def tell(self, signup: int) -> Generator[simpy.Event, Any, None]:
        """Let the teams know about ``signup``; the user has their answer when this returns."""
        raise NotImplementedError

    def done(self) -> bool:
        """True when nothing is left for any team to do."""
        return True


class DirectCalls(Wiring):
    """The sign-up service calls every team it knows, one after the other, and waits for each."""

    def __init__(self, world: World, p: AddConsumerParams):
        super().__init__(world, p)
        self.links: dict[str, tuple[Link, Link]] = {}
        self.servers: dict[str, Server] = {}
        for team in (*TEAMS, NEW_TEAM):
            self.links[team] = (Link(world, f"{team}.request", p.network_latency),
                                Link(world, f"{team}.response", p.network_latency))
            self.servers[team] = Server(world, team, p.new_handling_time if team == NEW_TEAM else p.handling_time)
        if p.outage is not None:
            self.links["email"][0].cut(*p.outage)
        world.env.process(self.deploy())

    def deploy(self) -> Generator[simpy.Event, Any, None]:
        """The producer's team ships the code that calls crm too: the only way crm hears of a sign-up."""
        yield self.world.env.timeout(self.p.joins_at)
        self.teams.append(NEW_TEAM)
        self.world.record(SERVICE, "deployed", detail=f"a new version of the app, which calls {', '.join(self.teams)}")

    def tell(self, signup: int) -> Generator[simpy.Event, Any, None]:
        for team in list(self.teams):  # the code deployed when the sign-up arrived
            request, response = self.links[team]
            try:
                yield from call(self.world, request, response, self._serve(team), signup, self.p.call_timeout)
            except RequestTimeout:
                self.world.record(SERVICE, "call_failed", msg_id=signup,
                                  detail=f"{team}: no answer within {self.p.call_timeout:g} ms")

    def _serve(self, team: str) -> Any:
        server = self.servers[team]

        def serve(signup: int) -> Generator[simpy.Event, Any, str]:
            yield from server.serve()
            self.world.record(team, HANDLED, msg_id=signup, detail="handled")
            return "ok"

        return serve


class Events(Wiring):
    """The sign-up service publishes one record; every team reads the topic in its own consumer group."""

    def __init__(self, world: World, p: AddConsumerParams):
        super().__init__(world, p)
        self.broker = Broker(world)
        self.broker.create_topic(TOPIC, p.partitions)
        self.producer = Producer(world, self.broker, SERVICE, latency=p.network_latency, client=p.client)
        self.groups: list[ConsumerGroup] = []
        self.consumers: list[Consumer] = []
        for team in (*TEAMS, NEW_TEAM):
            group = ConsumerGroup(world, self.broker, team)
            consumer = Consumer(
                world, self.broker, team, TOPIC, self._handler(team), client=p.client, group=group,
                commit="after_processing", fetch_latency=p.network_latency, auto_offset_reset="earliest",
                processing_time=p.new_handling_time if team == NEW_TEAM else p.handling_time,
                group_instance_id=f"{team}-host", start=p.joins_at if team == NEW_TEAM else 0.0,
                restart_delay=p.outage[1] if team == "email" and p.outage else 1000)
            if team == "email" and p.outage is not None:
                consumer.crash_at(p.outage[0])
            self.groups.append(group)
            self.consumers.append(consumer)

    def _handler(self, team: str) -> Any:
        def handle(record: Any, ctx: Context) -> None:
            ctx.record(HANDLED, record, detail="handled")

        return handle

    def tell(self, signup: int) -> Generator[simpy.Event, Any, None]:
        yield self.producer.send(TOPIC, {"user": f"user-{signup}"}, key=f"user-{signup}", msg_id=signup)

    def done(self) -> bool:
        return all(c.idle for c in self.consumers) and all(
            (g.committed_offset(TOPIC, log.partition) or 0) == log.end_offset
            for g in self.groups for log in self.broker.log_of(TOPIC))


WIRINGS: dict[str, type[Wiring]] = {"direct_calls": DirectCalls, "events": Events}


@scenario("add_consumer", designs=DESIGNS, params=AddConsumerParams, fields=FIELDS, lesson="18")
def add_consumer(p: AddConsumerParams) -> RunResult:
    """Sign-ups flow to two teams; at ``joins_at`` ms a third team (``crm``) wants them all, history included.

    ``design`` is one of :data:`DESIGNS`. Report fields (see :mod:`simkit.glossary`):
    ``requests`` (sign-ups accepted), ``producer_changes`` (deploys of the sign-up service
    the new team needed), ``failed_calls`` (calls to a team that timed out),
    ``downstream_missed`` (sign-ups email or billing never handled),
    ``new_reader_handled`` and ``new_reader_missed`` (crm's), ``new_reader_lag_max`` (the
    most sign-ups crm was behind after it joined), ``caught_up_at`` (ms: when crm had
    first handled every sign-up accepted so far; NaN if never), ``latency_*`` (ms: from a
    sign-up to the user's answer) and ``duration``. Checks: ``new_reader_missed`` and
    ``downstream_missed``. Series ``behind`` (every ``SAMPLE_EVERY`` ms): ``time``,
    ``team``, ``behind`` (sign-ups accepted so far that the team has not handled; crm's
    from ``joins_at`` on), from :func:`behind_series`. ``client`` (``"java"`` or
    ``"librdkafka"``) gives the producer and consumers of ``"events"`` that client's defaults
    (see :mod:`simkit.clients`); librdkafka's one record a poll makes crm catch up more slowly.
    """
    # build and wire the design
    world = World(p.seed)
    env = world.env
    wiring = WIRINGS[p.design](world, p)

    # run: the users sign up; then wait until every team is done, or max_time
    users = env.process(_users(world, wiring, p))
    world.run(until=users | env.timeout(p.max_time))
    if users.triggered:
        world.run(until=env.process(_settle(world, wiring, p)) | env.timeout(max(p.max_time - env.now, 0.0)))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    ev = trace["event"]
    signed = trace[(ev == "request") & (trace["component"] == SERVICE)]
    done = trace[ev == HANDLED]
    new = done[done["component"] == NEW_TEAM]
    missed_new = checks.lost(pd.concat([signed, new]), "request", HANDLED)
    old = [checks.lost(pd.concat([signed, done[done["component"] == t]]), "request", HANDLED) for t in TEAMS]
    missed_old = checks.Check("downstream_missed", sum(c.count for c in old),
                              tuple(x for c in old for x in c.examples)[:checks.EXAMPLES],
                              "sign-ups email or billing never handled")
    behind = behind_series(trace, p.joins_at, float(env.now))
    crm = behind[behind["team"] == NEW_TEAM]
    caught = _caught_up_at(signed["time"].to_numpy(dtype=float), new.drop_duplicates("msg_id")["time"]
                           .to_numpy(dtype=float), p.joins_at)
    lat = checks.latencies(trace, "request", "responded")
    fields: dict[str, float] = dict(
        requests=len(signed),
        producer_changes=int(((ev == "deployed") & (trace["component"] == SERVICE)).sum()),
        failed_calls=int((ev == "call_failed").sum()),
        downstream_missed=missed_old.count,
        new_reader_handled=int(new["msg_id"].nunique()),
        new_reader_missed=missed_new.count,
        new_reader_lag_max=int(crm["behind"].max()) if len(crm) else 0,
        caught_up_at=caught,
        **latency_fields(lat),
        duration=float(env.now),
    )
    return RunResult("add_consumer", p.seed, p.to_dict(), Report(**fields),
                     {"new_reader_missed": missed_new, "downstream_missed": missed_old}, {"behind": behind},
                     world.trace)


def _users(world: World, wiring: Wiring, p: AddConsumerParams) -> Generator[simpy.Event, Any, None]:
    """The users: one sign-up after another, each answered once the teams have been told."""
    rng = world.rng("arrivals")
    pending = []
    for i in range(p.signups):
        yield world.env.timeout(p.arrival_interval.sample(rng))
        pending.append(world.env.process(_signup(world, wiring, i)))
    yield world.env.all_of(pending)


def _signup(world: World, wiring: Wiring, i: int) -> Generator[simpy.Event, Any, None]:
    world.record(SERVICE, "request", key=f"user-{i}", msg_id=i)
    yield from wiring.tell(i)
    world.record(SERVICE, "responded", key=f"user-{i}", msg_id=i)


def _settle(world: World, wiring: Wiring, p: AddConsumerParams) -> Generator[simpy.Event, Any, None]:
    """Wait until the new team has arrived and nothing is left for any team to do."""
    if world.env.now < p.joins_at:
        yield world.env.timeout(p.joins_at - world.env.now)
    while not wiring.done():
        yield world.env.timeout(SAMPLE_EVERY)


def _caught_up_at(signed: np.ndarray, handled: np.ndarray, since: float) -> float:
    """The first time at or after ``since`` when ``handled`` (first handlings) covers every ``signed`` so far."""
    if len(handled) == 0:
        return math.nan
    times = np.sort(handled[handled >= since])
    accepted = np.searchsorted(np.sort(signed), times, side="right")
    done = np.searchsorted(np.sort(handled), times, side="right")
    hit = np.nonzero(accepted == done)[0]
    return float(times[hit[0]]) if len(hit) else math.nan


def behind_series(trace: pd.DataFrame, joins_at: float, end: float, every: float = SAMPLE_EVERY) -> pd.DataFrame:
    """How many sign-ups each team is behind, sampled every ``every`` ms up to ``end``, from the trace.

    Behind is the sign-ups accepted so far (the sign-up service's ``request`` rows) minus
    those the team has handled (its first ``side_effect`` row per sign-up). The team that
    arrives later (:data:`NEW_TEAM`) is sampled from ``joins_at`` on. Columns ``time``,
    ``team``, ``behind`` (sign-ups).
    """
    ev = trace["event"]
    signed = np.sort(trace.loc[(ev == "request") & (trace["component"] == SERVICE), "time"].to_numpy(dtype=float))
    done = trace[ev == HANDLED].drop_duplicates(["component", "msg_id"])
    frames = []
    for team in (*TEAMS, NEW_TEAM):
        start = joins_at if team == NEW_TEAM else 0.0
        at = np.arange(start, max(end, start) + every, every)
        handled = np.sort(done.loc[done["component"] == team, "time"].to_numpy(dtype=float))
        behind = np.searchsorted(signed, at, side="right") - np.searchsorted(handled, at, side="right")
        frames.append(pd.DataFrame({"time": at, "team": team, "behind": behind.astype(int)}))
    return pd.concat(frames, ignore_index=True)
