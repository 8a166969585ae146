"""Dual write, publish then commit, and the outbox, on a real database and a real producer.

The live twin of lesson 03 (:func:`simkit.scenarios.publish`). A client process (this
one) sends ``messages`` sign-up requests, one at a time, to the sign-up service, a
child process that reads a request a line from its stdin and answers on its stdout.
For each request the service creates a user row in its database (SQLite in the run's
temporary folder, or PostgreSQL given ``database="postgresql://..."``) and must tell
the world with a ``signup-<n>`` event on the broker, by one of the designs:

``"dual_write"``            commit the row, then produce the event and wait for its ack.
``"publish_then_commit"``   produce and wait for the ack, then commit the row.
``"outbox"``                commit the row and an outbox row in one transaction; a relay
                            process claims unpublished outbox rows (``FOR UPDATE SKIP
                            LOCKED`` on PostgreSQL), produces each, waits for the ack and
                            marks it published.

Crashes are real: the service dies by ``os._exit`` at one of the simulator's crash
points (:data:`SERVICE_POINTS`, :data:`RELAY_POINTS`), chosen from the seed with the
simulator's meaning of ``crash_rate`` (the chance per request, or per outbox row for
``relay_crash_rate``); ``kill_rate`` adds SIGKILLs of the service at random instants
(per second). The client sees a crash as a connection reset, answers the request with
an error and starts a new service process. A live run is one history, not a seed's.

When every request is answered (and the outbox is empty, or ``drain`` ms have passed),
the run reads the users table (a ``db_commit`` row per committed user) and the topic
back (an ``append`` row per record), and the simulator's checkers count what is lost,
ghostly or duplicated.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .. import checks
from ..errors import ConfigError
from ..faults import check_rate
from ..params import check_choice, check_count, check_positive
from ..results import Report, RunResult
from ..scenarios._common import latency_fields
from ..scenarios.publish import (
    OUTBOX,
    RELAY_POINTS,
    SERVICE_POINTS,
    USERS,
    failed_requests,
    ghost_events,
    lost_events,
    pending_events,
)
from ..world import check_seed
from ._db import Store, is_dsn
from ._run import Child, LiveRun, check_bootstrap, crash_fields

__all__ = ["DESIGNS", "RELAY_POINTS", "SERVICE_POINTS", "publish"]

DESIGNS: tuple[str, ...] = ("dual_write", "publish_then_commit", "outbox")


def publish(
    design: str,
    *,
    seed: int = 0,
    messages: int = 100,
    crash_rate: float = 0.1,
    kill_rate: float = 0.0,
    relay_crash_rate: float = 0.0,
    publish_timeout: float = 5000,
    poll_interval: float = 20,
    drain: float = 30_000,
    database: str | None = None,
    bootstrap_servers: str | None = None,
) -> RunResult:
    """Send ``messages`` sign-ups to a real service that publishes by ``design``; see the module docs.

    ``database`` is ``None`` (a SQLite file in a temporary folder), a SQLite path, or a
    PostgreSQL DSN; the run creates its tables under a run-specific prefix and drops
    them after. ``publish_timeout`` (ms) bounds the wait for the broker's ack
    (``flush``); ``poll_interval`` (ms) is the relay's pause when the outbox is empty.

    Report fields, as :func:`simkit.scenarios.publish`: ``requests``, ``succeeded``,
    ``failed``, ``committed``, ``published``, ``lost``, ``ghosts``, ``duplicates``,
    ``duplicate_publishes``, ``pending``, ``crashes`` and ``crashes_<point>`` (where the
    service's crashes struck, ``crashes_time`` for kills), ``relay_crashes`` and
    ``relay_crashes_<point>``, ``latency_*`` (request to successful answer, ms),
    ``delivery_*`` (request to the event's append, ms) and ``duration`` (ms).
    """
    check_choice("design", design, DESIGNS)
    seed = check_seed(seed)
    messages = check_count("messages", messages, 1, 100_000)
    crash_rate = check_rate("crash_rate", crash_rate)
    kill_rate = check_positive("kill_rate", kill_rate, allow_zero=True)
    relay_crash_rate = check_rate("relay_crash_rate", relay_crash_rate)
    publish_timeout = check_positive("publish_timeout", publish_timeout)
    poll_interval = check_positive("poll_interval", poll_interval)
    drain = check_positive("drain", drain, allow_zero=True)
    if database is not None and (not isinstance(database, str) or not database.strip()):
        raise ConfigError("database", database, "None (SQLite in a temporary folder), a SQLite path or a "
                                                "PostgreSQL DSN such as 'postgresql://user@host/db'")
    if database is not None and is_dsn(database):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError("database", database, "a SQLite path, or a PostgreSQL DSN once psycopg is "
                                                    "installed (pip install 'simkit[postgres]')") from None
    bootstrap_servers = check_bootstrap(bootstrap_servers)
    params: dict[str, Any] = dict(
        design=design, messages=messages, crash_rate=crash_rate, kill_rate=kill_rate,
        relay_crash_rate=relay_crash_rate, publish_timeout=publish_timeout, poll_interval=poll_interval,
        drain=drain, database="postgresql" if database and is_dsn(database) else "sqlite",
        bootstrap_servers=bootstrap_servers)

    with LiveRun("publish", seed, bootstrap_servers) as run:
        topic = run.topic("user_signed_up", 1)
        where = database or os.path.join(run.folder, "app.db")
        store = Store(where, run.prefix)
        store.create_tables()
        run.on_exit(lambda: (store.drop_tables(), store.close()))
        common = dict(design=design, topic=topic, database=where, prefix=run.prefix, client=run.client(),
                      publish_timeout=publish_timeout, poll_interval=poll_interval)
        answered = threading.Event()
        relay = _RelaySupervisor(run, common, relay_crash_rate, answered, drain) if design == "outbox" else None
        _client(run, common, design, messages, crash_rate, kill_rate)
        answered.set()
        if relay is not None:
            relay.join()
        for user, created_ms, with_outbox in store.committed_users():
            run.record("db", "db_commit", key=user.replace("signup", "user"), msg_id=user,
                       detail=f"{USERS},{OUTBOX}" if with_outbox else USERS, time_ms=created_ms)
        run.read_back(topic, 1)
        world_trace = run.collect()

    trace = world_trace.to_frame()
    found = {
        "lost": lost_events(trace),
        "ghosts": ghost_events(trace),
        "duplicates": checks.duplicates(trace, "append"),
        "pending": pending_events(trace),
        "failed": failed_requests(trace),
    }
    client = trace[trace["component"] == "client"]
    appends = trace.loc[trace["event"] == "append", "msg_id"]
    fields: dict[str, float] = dict(
        requests=int((client["event"] == "request").sum()),
        succeeded=int((client["event"] == "responded").sum()),
        failed=found["failed"].count,
        committed=int((trace["event"] == "db_commit").sum()),
        published=int(appends.nunique()),
        lost=found["lost"].count,
        ghosts=found["ghosts"].count,
        duplicates=found["duplicates"].count,
        duplicate_publishes=int(appends.duplicated().sum()),
        pending=found["pending"].count,
        **crash_fields(trace, "service", SERVICE_POINTS[design]),
        **crash_fields(trace, "relay", RELAY_POINTS, "relay_crashes"),
        **latency_fields(checks.latencies(trace, "request", "responded")),
        **latency_fields(checks.latencies(trace, "request", "append"), "delivery"),
        duration=float(trace["time"].max()),
    )
    return RunResult("live.publish", seed, params, Report(**fields), found, {}, world_trace)


def _client(run: LiveRun, common: dict[str, Any], design: str, messages: int, crash_rate: float,
            kill_rate: float) -> None:
    """Send the requests one at a time, restarting the service whenever it died; SIGKILL it at random."""
    current: list[Any] = [None, None]  # the service process and the request it is handling
    done = threading.Event()

    def start() -> Child:
        after, point = run.crash_plan("service/crashes", crash_rate, SERVICE_POINTS[design])
        return run.start("service", "service", pipe=True, crash_after=after, crash_point=point, **common)

    def killer() -> None:
        rng = run.world.rng("service/kills")
        while not done.wait(rng.expovariate(kill_rate)):
            svc = current[0]
            if svc is not None and svc.alive:
                svc.kill()
                run.record("service", "crash", msg_id=current[1], detail="time")

    if kill_rate > 0:
        threading.Thread(target=killer, daemon=True).start()
    try:
        svc = None
        for i in range(messages):
            if svc is None or not svc.alive:
                if svc is not None:
                    run.record("service", "restart")
                svc = current[0] = start()
            event_id = f"signup-{i}"
            current[1] = event_id
            run.record("client", "request", key=f"user-{i}", msg_id=event_id)
            try:
                svc.proc.stdin.write(f"{i}\n")
                svc.proc.stdin.flush()
                answer = svc.proc.stdout.readline()
            except (BrokenPipeError, ValueError):  # the service died between two requests
                answer = ""
            if answer.startswith("ok"):
                run.record("client", "responded", msg_id=event_id)
                continue
            if answer:
                run.record("client", "request_failed", msg_id=event_id, detail=answer.strip())
                continue
            svc.proc.wait()
            if not svc.crashed:
                raise RuntimeError(f"the service failed (exit {svc.proc.returncode}):\n{svc.failure()}")
            run.record("client", "request_failed", msg_id=event_id, detail="connection reset: the service died")
        if svc is not None and svc.alive:
            svc.proc.stdin.close()  # end of requests: the service's loop ends and it exits
            svc.stop()
    finally:
        done.set()


class _RelaySupervisor(threading.Thread):
    """Runs the outbox relay, restarting it after each crash, until the outbox is empty after the last answer."""

    def __init__(self, run: LiveRun, common: dict[str, Any], rate: float, answered: threading.Event,
                 drain: float):
        super().__init__(daemon=True)
        self.run_ = run
        self.common = common
        self.rate = rate
        self.answered = answered
        self.drain = drain
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        live = self.run_
        store = Store(self.common["database"], self.common["prefix"])  # this thread's own connection
        deadline: list[float] = []

        def start() -> Child:
            after, point = live.crash_plan("relay/crashes", self.rate, RELAY_POINTS)
            return live.start("relay", "relay", crash_after=after, crash_point=point, **self.common)

        def emptied() -> bool:
            if not self.answered.is_set():
                return False
            if not deadline:
                deadline.append(live.now() + self.drain)
            return store.unpublished() == 0 or live.now() >= deadline[0]

        try:
            live.supervise(start, "relay", 0.0, float("inf"), emptied)
        except BaseException as exc:  # handed to the main thread by join()
            self.error = exc
        finally:
            store.close()

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error
