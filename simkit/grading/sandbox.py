"""Run one simulation of the learner's code in a throwaway process, with limits it cannot escape.

The grading process forks a child per run. The child re-reads the learner's source
into a fresh namespace (so nothing the learner kept in Python survives from one run,
or one restart, to the next), caps its own memory with ``resource.setrlimit`` and
sends back plain JSON: the trace, the final state and the crash points passed.

Limits are in CPU time, so that a grade does not depend on how busy the machine is:
the kernel stops a child past its CPU budget (``RLIMIT_CPU``: SIGXCPU at the budget, a
signal only that limit sends, and SIGKILL, which no handler can catch, one CPU second
later for a child that catches SIGXCPU). A wall-clock deadline of
``WALL_FACTOR`` times the budget is only a backstop, for code that sleeps instead of
computing. A handler that loops inside ``try/except BaseException``, turns off timers,
calls ``sys.exit()`` or ``os._exit()`` or allocates without bound ends its own run,
never the grading. Nothing the child sends back is trusted to decide a grade: the
parent checks it, and measures the child's CPU itself (``os.wait4``).
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from .faults import SOURCE_NAME, LearnerFault

__all__ = ["Learner", "run_forked"]

MAX_BYTES = 64 * 1024 * 1024
#: the wall-clock backstop, as a multiple of a CPU budget: a loaded machine slows a run down by
#: about the number of processes per core, and a grade must not change with it
WALL_FACTOR = 5.0
#: a child killed by SIGKILL or SIGXCPU after this share of its CPU limit was killed by that limit
CPU_KILL_SHARE = 0.5


def cpu_limit(seconds: float) -> int:
    """The whole CPU seconds ``RLIMIT_CPU`` is set to for a run budgeted ``seconds``."""
    return int(seconds) + 2


class Learner:
    """The learner's source: :meth:`fresh` executes it again in a new namespace and returns its entry."""

    def __init__(self, source: str, entry: str):
        self.source = source
        self.entry = entry
        self.loads = 0

    def fresh(self) -> Callable[..., Any]:
        """A new copy of the learner's ``entry`` (a function), from a fresh run of the source."""
        import ast

        from .tools import check_source

        try:
            tree = ast.parse(self.source, SOURCE_NAME)
            code = compile(tree, SOURCE_NAME, "exec")
        except SyntaxError as err:
            raise LearnerFault(f"your code has a syntax error on line {err.lineno}: {err.msg}") from None
        check_source(tree)
        namespace: dict[str, Any] = {"__name__": "__learner__", "__builtins__": __builtins__}
        self.loads += 1
        try:
            exec(code, namespace)
        except Exception as exc:
            raise LearnerFault(f"running your cell raised {exc!r}") from exc
        fn = namespace.get(self.entry)
        if not callable(fn):
            raise LearnerFault(f"your cell must define a function called {self.entry!r}")
        return fn


def _fingerprint() -> dict[str, int]:
    """Identity of every attribute of simkit and simpy (classes' own attributes too)."""
    marks: dict[str, int] = {}
    for name, mod in list(sys.modules.items()):
        if not (name == "simkit" or name.startswith(("simkit.", "simpy"))) or mod is None:
            continue
        for attr, value in list(vars(mod).items()):
            marks[f"{name}.{attr}"] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                for a, v in list(vars(value).items()):
                    marks[f"{name}.{attr}.{a}"] = id(v)
    return marks


def _child(job: Callable[[], dict], memory_mb: int, cpu_seconds: float, out: int) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.environ["SIMKIT_GRADING_CHILD"] = "1"
    try:
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * resource.getpagesize()
        limit = used + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = cpu_limit(cpu_seconds)
        # at the soft limit the kernel sends SIGXCPU, which only this limit sends, so the parent knows the
        # cause whatever the CPU time it measures; a child that catches it is killed a second later
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU's default action dumps core: no core files
    except (OSError, ValueError):
        pass
    before = _fingerprint()
    try:
        result = job()
    except MemoryError:
        result = dict(error=f"your code used more than the memory limit ({memory_mb} MB)", error_kind="memory")
    except SystemExit as exc:
        result = dict(error=f"your code called sys.exit({exc.code!r}); a handler must return instead",
                      error_kind="exit")
    except KeyboardInterrupt:
        result = dict(error="your code raised KeyboardInterrupt", error_kind="raised")
    except LearnerFault as exc:
        result = dict(error=str(exc), error_kind="rule")
    except Exception as exc:
        result = dict(error=str(exc).split(" at t=")[0] if str(exc) else repr(exc), error_kind="raised")
    except BaseException as exc:
        result = dict(error=f"your code raised {exc!r}", error_kind="raised")
    after = _fingerprint()
    changed = sorted(k for k, v in before.items() if after.get(k) != v)[:3]  # new imports are fine
    if changed:
        result = dict(error=f"your code changed simkit itself ({', '.join(changed)}): graded runs refuse it",
                      error_kind="tamper")
    try:
        data = json.dumps(result, default=repr).encode()
    except (TypeError, ValueError, MemoryError) as exc:
        data = json.dumps(dict(error=f"the run's result could not be sent: {exc!r}", error_kind="raised")).encode()
    view = memoryview(data)
    while view:
        n = os.write(out, view[:65536])
        view = view[n:]
    os._exit(0)


def run_forked(job: Callable[[], dict], seconds: float, memory_mb: int) -> dict:
    """Run ``job()`` in a forked child with a CPU limit of ``seconds`` and ``memory_mb`` of memory.

    Returns the child's JSON dict, or a dict with ``error`` and ``error_kind`` when it
    ran out of time, exited, was killed or sent something unreadable; either way with
    ``cpu``, the CPU seconds the child used (measured here, not reported by the child).
    """
    got, cpu = _run_forked(job, seconds, memory_mb)
    got["cpu"] = cpu
    return got


def _run_forked(job: Callable[[], dict], seconds: float, memory_mb: int) -> tuple[dict, float]:
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child never returns from here
        os.close(read)
        try:
            _child(job, memory_mb, seconds, write)
        finally:
            os._exit(70)
    os.close(write)
    wall = WALL_FACTOR * cpu_limit(seconds)
    chunks, size, deadline, timed_out = [], 0, time.monotonic() + wall, False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read], [], [], left)
        if not ready:
            continue
        chunk = os.read(read, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BYTES:
            break
    if timed_out or size > MAX_BYTES:
        os.kill(pid, signal.SIGKILL)
    os.close(read)
    _, status, usage = os.wait4(pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    if timed_out:
        return dict(error=f"the run took more than {wall:g} s of real time without using up its CPU time: "
                          "your code may sleep or wait on something outside the simulation (the grader stops "
                          "it from outside; catching exceptions or changing timers cannot)",
                    error_kind="timeout"), cpu
    if size > MAX_BYTES:
        return dict(error="the run produced an unreasonably large result", error_kind="memory"), cpu
    raw = b"".join(chunks)
    if not raw:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            # the kernel counts CPU time for RLIMIT_CPU in scheduler ticks, wait4 reports it scaled to the
            # scheduler's own count: on a busy machine they differ (a child killed at its 10 s limit measured
            # 9.7 s, and others under 9.5 s, with a load of 9 on 2 cores), so a kill past half the limit is the limit
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= CPU_KILL_SHARE * cpu_limit(seconds)):
                return dict(error=f"the run used more than {cpu_limit(seconds)} s of CPU time, its limit: your "
                                  "code may loop forever (the grader stops it from outside; catching exceptions "
                                  "or changing timers cannot)", error_kind="timeout"), cpu
            return dict(error=f"the run was killed by signal {sig}", error_kind="killed"), cpu
        code = os.WEXITSTATUS(status)
        return dict(error=f"your code ended the grading process (os._exit({code}) or similar); a handler "
                          "must return instead", error_kind="exit"), cpu
    try:
        return json.loads(raw), cpu
    except ValueError:
        return dict(error="the run sent back an unreadable result", error_kind="raised"), cpu


