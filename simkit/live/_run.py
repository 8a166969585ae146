"""One live run's real parts: the cluster, the topics, the child processes, the trace files.

:class:`LiveRun` is a context manager that owns everything a live scenario starts,
and stops all of it on the way out, whether the run succeeded, raised or was
interrupted with Ctrl-C: every child is killed and waited for, the run's topics and
tables are deleted, the mock cluster is closed and the temporary folder removed. Each
child also asks Linux to kill it if this process dies (``PR_SET_PDEATHSIG``), so not
even a killed notebook kernel leaves one behind.

Time in the trace is wall-clock milliseconds since the run began: a live run is one
history, not a seed's. The seed decides only the crash plan (where and after how many
items each child incarnation dies, when the kills strike) and the order of the sends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Iterator

from ..errors import ConfigError
from ..trace import Trace
from ..world import World
from ._child import CRASH_EXIT, msg_id_of
from .mock import MockCluster

__all__ = ["CRASH_EXIT", "Child", "LiveRun", "check_bootstrap", "crash_fields"]

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_child.py")


def check_bootstrap(value: Any) -> str | None:
    """``None`` (start a mock cluster on loopback) or a non-empty ``bootstrap.servers`` string."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("bootstrap_servers", value, "None (a mock cluster on loopback) or 'host:port,...'")
    return value


class LiveRun:
    """The parts of one live run; use as ``with LiveRun("consume", seed) as run:``.

    * ``bootstrap_servers``: a real cluster to use; ``None`` starts a :class:`MockCluster`.
    * ``rebalance_delay``: the mock cluster's wait (ms) for more members before a new group's first assignment.
    * ``prefix``: the run-specific prefix of every topic, group and table it creates.
    """

    def __init__(self, scenario: str, seed: int, bootstrap_servers: str | None = None, rebalance_delay: int = 0):
        self.scenario = scenario
        self.world = World(seed)  # only for its named random streams: the crash plans
        self.external = bootstrap_servers
        self.prefix = f"simkit_{scenario}_{uuid.uuid4().hex[:8]}"
        self.cluster: MockCluster | None = None
        self.rebalance_delay = rebalance_delay
        self.bootstrap_servers = bootstrap_servers or ""
        self.folder = ""
        self.t0 = 0.0
        self._rows: list[list[Any]] = []
        self.children: list[Child] = []
        self._topics: list[str] = []
        self._cleanups: list[Any] = []
        self._files: list[str] = []
        self._incarnations: dict[str, int] = {}
        self.closing = False
        self._lock = threading.Lock()  # no child starts once closing is set (supervisors run in threads)

    # -- life cycle ----------------------------------------------------------------------------
    def __enter__(self) -> "LiveRun":
        self.folder = tempfile.mkdtemp(prefix=f"{self.prefix}-")
        try:
            if self.external is None:
                self.cluster = MockCluster(rebalance_delay=self.rebalance_delay).start()
                self.bootstrap_servers = self.cluster.bootstrap_servers
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self.t0 = time.time()
        return self

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            self.closing = True  # supervisors in other threads stop restarting children
        for child in self.children:
            child.kill()
        for cleanup in reversed(self._cleanups):
            try:
                cleanup()
            except Exception:  # clean-up goes on: one stuck resource must not leave the others behind
                pass
        if self._topics and self.cluster is None:
            from confluent_kafka.admin import AdminClient

            admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
            for future in admin.delete_topics(self._topics, operation_timeout=10).values():
                try:
                    future.result(timeout=15)
                except Exception:
                    pass
        if self.cluster is not None:
            self.cluster.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def on_exit(self, cleanup: Any) -> None:
        """Call ``cleanup()`` when the run ends, however it ends."""
        self._cleanups.append(cleanup)

    def now(self) -> float:
        """Milliseconds since the run began (wall clock)."""
        return (time.time() - self.t0) * 1000.0

    def record(self, component: str, event: str, topic: str | None = None, partition: int = -1,
               offset: int = -1, key: Any = None, msg_id: Any = None, detail: Any = None,
               time_ms: float | None = None) -> None:
        """Write a row of this process (the parent's) to the trace, at ``time_ms`` or now."""
        at = self.now() if time_ms is None else time_ms
        self._rows.append([at, component, event, topic, partition, offset, key, msg_id, detail])

    def client(self, **extra: Any) -> dict[str, Any]:
        """A librdkafka config reaching this run's cluster, plus ``extra`` (dots for underscores)."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers, "log_level": 2}
        conf.update({k.replace("_", "."): v for k, v in extra.items()})
        return conf

    # -- topics ----------------------------------------------------------------------------------
    def topic(self, name: str, partitions: int) -> str:
        """Create this run's topic ``name`` with ``partitions`` partitions; returns its full name."""
        full = f"{self.prefix}.{name}"
        if self.cluster is not None:
            self.cluster.create_topic(full, partitions)
        else:
            from confluent_kafka.admin import AdminClient, NewTopic

            admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
            admin.create_topics([NewTopic(full, partitions, 1)])[full].result(timeout=30)
        self._topics.append(full)
        return full

    def read_back(self, topic: str, partitions: int) -> None:
        """Read every partition of ``topic`` from the start and write an ``append`` row per record.

        The row's time is the record's timestamp (when the producer created it), so
        the trace shows what the log really holds, whatever the clients believed.
        """
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        c = Consumer(self.client(group_id=f"{self.prefix}.readback", enable_auto_commit=False))
        try:
            for p in range(partitions):
                _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high <= 0:
                    continue
                c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)])
                seen = 0
                deadline = time.time() + 30
                while seen < high and time.time() < deadline:
                    for m in c.consume(num_messages=500, timeout=0.5):
                        if m.error():
                            continue
                        seen = m.offset() + 1
                        ms = m.timestamp()[1]
                        key = m.key().decode() if m.key() is not None else None
                        self._rows.append([(ms / 1000.0 - self.t0) * 1000.0, "broker", "append", topic, p,
                                           m.offset(), key, msg_id_of(m), None])
        finally:
            c.close()

    def committed(self, group: str, topic: str, partitions: int) -> dict[int, int]:
        """The group's committed offset (-1 for none) and the log end offset, per partition: ``{p: lag}``."""
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer(self.client(group_id=group, enable_auto_commit=False))
        try:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            done = {tp.partition: tp.offset for tp in c.committed(tps, timeout=10)}
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] - max(done[p], 0)
                    for p in range(partitions)}
        finally:
            c.close()

    # -- children ------------------------------------------------------------------------------
    def supervise(self, start: Any, component: str, kill_rate: float, max_time: float, caught_up: Any,
                      every: float = 250) -> bool:
        """Keep one child of ``component`` running until ``caught_up()`` and it is idle; True if so.

        A child that crashed at a point (it wrote its own ``crash`` row) is restarted at
        once, with a ``restart`` row; so is one this loop SIGKILLed at instants drawn from
        the stream ``<component>/kills``, ``kill_rate`` per second of the child's *busy*
        time (while it says it is handling records, so a kill strikes each step in
        proportion to its duration, and restarts are not killed over and over), with a
        ``crash`` row whose detail is ``"time"``. A child that fails in any other way stops the run with
        its stderr. ``max_time`` ms after the run began it gives up and returns False.
        """
        rng = self.world.rng(f"{component}/kills")

        def next_kill(after: float) -> float:
            return after + rng.expovariate(kill_rate / 1000.0) if kill_rate > 0 else float("inf")

        child = start()
        busy = 0.0  # ms the child has spent handling records: kills strike only there, as in a steady service
        kill_at = next_kill(busy)
        checked = last = self.now()
        try:
            while self.now() < max_time and not self.closing:
                now = self.now()
                state = self.status(component)
                if state == "busy":
                    busy += now - last
                last = now
                if not child.alive:
                    if not child.crashed:
                        code = child.proc.returncode
                        raise RuntimeError(f"{component} failed (exit {code}):\n{child.failure()}")
                    self.record(component, "restart")
                    child = start()
                elif busy >= kill_at:
                    child.kill()
                    self.record(component, "crash", detail="time")
                    kill_at = next_kill(busy)
                elif now - checked >= every:
                    checked = now
                    if state == "idle" and caught_up():
                        return True
                time.sleep(0.01)
            return False
        finally:
            child.stop()

    def crash_plan(self, stream: str, rate: float, points: tuple[str, ...]) -> tuple[int | None, str | None]:
        """Where the next incarnation of a child dies: after how many items, at which point.

        Each item a child handles crashes it with probability ``rate``, at one of
        ``points`` chosen uniformly: the simulator's meaning of ``crash_rate``, drawn
        from the stream ``stream`` of the seed.
        """
        if rate <= 0:
            return None, None
        rng = self.world.rng(stream)
        n = 0
        while rng.random() >= rate:
            n += 1
            if n > 1_000_000:
                return None, None
        return n, rng.choice(points)

    def start(self, role: str, component: str, *, pipe: bool = False, **config: Any) -> "Child":
        """Start a child process of ``role`` named ``component`` with ``config``; see ``_child.py``."""
        with self._lock:
            if self.closing:
                raise RuntimeError(f"the live run is closing: {component} is not started again")
            n = self._incarnations.get(component, 0)
            self._incarnations[component] = n + 1
            base = os.path.join(self.folder, f"{component}.{n}")
            status = os.path.join(self.folder, f"{component}.status")
            config.update(role=role, component=component, t0=self.t0, parent=os.getpid(),
                          trace_path=base + ".jsonl", status_path=status)
            if os.path.exists(status):
                os.remove(status)  # what the last incarnation said is no longer true
            with open(base + ".json", "w") as f:
                json.dump(config, f)
            self._files.append(base + ".jsonl")
            with open(base + ".stderr", "w") as err:
                proc = subprocess.Popen(
                    [sys.executable, CHILD, base + ".json"], stdin=subprocess.PIPE if pipe else subprocess.DEVNULL,
                    stdout=subprocess.PIPE if pipe else subprocess.DEVNULL, stderr=err, text=True,
                    start_new_session=True)  # Ctrl-C in a notebook reaches the lab, which stops its children
            child = Child(self, component, proc, base + ".stderr")
            self.children.append(child)
        return child

    def status(self, component: str) -> str:
        """What ``component`` last said it was doing: ``"idle"``, ``"busy"`` or ``""`` (nothing yet)."""
        try:
            with open(os.path.join(self.folder, f"{component}.status")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def rows(self) -> Iterator[list[Any]]:
        """Every row the children wrote so far."""
        for path in self._files:
            try:
                with open(path) as f:
                    lines = f.read().splitlines()
            except FileNotFoundError:
                continue
            for line in lines:
                if line:
                    try:
                        yield json.loads(line)
                    except ValueError:  # a row cut off by a kill mid-write: it never happened
                        continue

    def collect(self) -> Trace:
        """The run's trace: the children's rows merged with this process's, in time order."""
        merged = Trace()
        rows = sorted([*self._rows, *self.rows()], key=lambda r: r[0])
        for row in rows:
            merged.record(*row)
        return merged


def crash_fields(trace: Any, component: str, points: tuple[str, ...], prefix: str = "crashes") -> dict[str, int]:
    """How many crashes struck the components named ``component...``, and where.

    ``<prefix>`` counts them all, ``<prefix>_<point>`` those at each named point and
    ``<prefix>_time`` the SIGKILLs at random instants.
    """
    rows = trace[(trace["event"] == "crash") & trace["component"].astype(str).str.startswith(component)]
    where = rows["detail"].astype(str)
    return {prefix: int(len(rows)), **{f"{prefix}_{p}": int((where == p).sum()) for p in (*points, "time")}}


class Child:
    """One child process: its ``component`` name, the process, and how it ended."""

    def __init__(self, run: LiveRun, component: str, proc: subprocess.Popen, stderr: str):
        self.run = run
        self.component = component
        self.proc = proc
        self.stderr = stderr

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def crashed(self) -> bool:
        """True once the child has died at a crash point (``os._exit``) or by SIGKILL."""
        return self.proc.poll() in (CRASH_EXIT, -signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the child (if it still runs) and wait for it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the child to stop cleanly (SIGTERM), and kill it if it has not within ``timeout`` s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def failure(self) -> str:
        """The end of the child's stderr: what it said before it stopped."""
        try:
            with open(self.stderr) as f:
                return f.read()[-2000:]
        except OSError:
            return ""
