"""Network links with latency, and a request/response helper.

A :class:`Link` is one direction of a connection. Like TCP, it delivers in order:
a message never overtakes one sent before it on the same link, even when its own
latency draw is smaller (that is why a Kafka producer's requests on one connection
stay in order). A link can be cut for a window; what is sent into a cut is dropped,
and the sender learns of it only by timing out.
"""

from __future__ import annotations

from typing import Any, Callable, Generator

import simpy

from .distributions import DistributionLike, as_distribution
from .errors import ConfigError, RequestTimeout
from .faults import window
from .world import World

__all__ = ["Link", "Server", "call"]


class Link:
    """One direction of a network path, with a latency distribution in ms."""

    def __init__(self, world: World, name: str, latency: DistributionLike = 0, *, fifo: bool = True):
        self.world = world
        self.name = name
        self.latency = as_distribution(f"{name}.latency", latency)
        self.fifo = fifo
        self._rng = world.rng(f"link/{name}")
        self._last_arrival = 0.0
        self._cuts: list[tuple[float, float]] = []

    def cut(self, start: float, duration: float) -> None:
        """Drop everything sent across the link between ``start`` and ``start + duration`` ms."""
        self._cuts.append(window(
            self.world, start, duration,
            lambda: self.world.record(self.name, "link_down"),
            lambda: self.world.record(self.name, "link_up"),
        ))

    def is_cut(self, t0: float, t1: float) -> bool:
        """True if a cut overlaps the interval [t0, t1]."""
        return any(s <= t1 and t0 < e for s, e in self._cuts)

    def delay(self) -> float | None:
        """Draw the transit time of a message sent now; ``None`` if the link drops it."""
        now = self.world.env.now
        if self.latency.is_zero:
            arrival = now
        else:
            arrival = now + self.latency.sample(self._rng)
        if self.fifo and arrival < self._last_arrival:
            arrival = self._last_arrival
        if self._cuts and self.is_cut(now, arrival):
            return None
        self._last_arrival = arrival
        return arrival - now


def call(
    world: World,
    request_link: Link,
    response_link: Link,
    server: Callable[[Any], Generator[simpy.Event, Any, Any]],
    request: Any,
    timeout: float | None = None,
) -> Generator[simpy.Event, Any, Any]:
    """Send ``request`` to ``server`` and wait for its answer: ``answer = yield from call(...)``.

    ``server(request)`` is a generator (a SimPy process body) that returns the answer.
    With ``timeout`` (ms) the caller gives up and gets :class:`RequestTimeout`, an
    *indefinite* failure: the server may still do the work.
    """
    env = world.env
    start = env.now
    d = request_link.delay()
    if d is None:
        if timeout is None:
            raise ConfigError("timeout", timeout, "a timeout in ms when the link can be cut")
        yield env.timeout(timeout)
        raise RequestTimeout(f"no answer from the server within {timeout} ms")
    reply = env.event()

    def _serve() -> Generator[simpy.Event, Any, None]:
        if d:
            yield env.timeout(d)
        answer = yield env.process(server(request))
        back = response_link.delay()
        if back is None:
            return
        if back:
            yield env.timeout(back)
        reply.succeed(answer)

    env.process(_serve())
    if timeout is None:
        answer = yield reply
        return answer
    remaining = timeout - (env.now - start)
    result = yield reply | env.timeout(remaining)
    if reply in result:
        return result[reply]
    raise RequestTimeout(f"no answer from the server within {timeout} ms")


class Server:
    """A service with ``capacity`` workers and a first-come first-served queue.

    ``yield from server.serve()`` waits for a free worker, then holds it for one
    service time (ms). Queueing delay is part of the model, not a fixed penalty.
    """

    def __init__(self, world: World, name: str, service_time: DistributionLike, capacity: int = 1):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ConfigError("capacity", capacity, "an int >= 1")
        self.world = world
        self.name = world.claim_name(name)
        self.service_time = as_distribution(f"{name}.service_time", service_time)
        self.resource = simpy.Resource(world.env, capacity)
        self._rng = world.rng(f"{name}/service")

    def serve(self, work: Callable[[], Generator[simpy.Event, Any, Any]] | None = None
              ) -> Generator[simpy.Event, Any, Any]:
        """Queue for a worker, spend one service time, then run ``work()`` (if given) and return its value."""
        env = self.world.env
        with self.resource.request() as req:
            yield req
            yield env.timeout(self.service_time.sample(self._rng))
            if work is not None:
                result = yield from work()
                return result
        return None
