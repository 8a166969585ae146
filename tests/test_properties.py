"""Invariants under any crash schedule (hypothesis chooses the crashes, outages and lost answers)."""

from hypothesis import given
from hypothesis import strategies as st

import simkit as sk

POINTS = ("before_process", "after_process")

schedules = st.lists(st.tuples(st.integers(0, 80), st.sampled_from(POINTS)), max_size=6)
windows = st.lists(st.tuples(st.integers(0, 400), st.integers(1, 60)), max_size=3)


def run_keyed(seed, crashes_a, crashes_b, outages, cuts, messages=60):
    w = sk.World(seed=seed)
    b = sk.Broker(w)
    b.create_topic("users", 3)
    p = sk.Producer(w, b, latency=sk.uniform(1, 4), request_timeout=40, retry_backoff=5)
    for start, dur in outages:
        b.outage(start, dur)
    for start, dur in cuts:
        p.link_in.cut(start, dur)
    common = dict(group="g", commit="after_processing", processing_time=sk.exponential(4),
                  fetch_latency=sk.uniform(0, 2), session_timeout=300, restart_delay=100,
                  auto_offset_reset="earliest", max_poll_records=10)
    sk.Consumer(w, b, "c0", "users", crash_schedule=crashes_a, **common)
    sk.Consumer(w, b, "c1", "users", crash_schedule=crashes_b, **common)
    rng = w.rng("arrivals")

    def source():
        for i in range(messages):
            p.send("users", key=f"user-{rng.randrange(5)}", msg_id=i)
            yield w.env.timeout(rng.expovariate(0.2))

    w.env.process(source())
    w.run(until=60_000)
    return w.trace.to_frame()


@given(seed=st.integers(0, 10**6), crashes_a=schedules, crashes_b=schedules, outages=windows, cuts=windows)
def test_key_partitioning_idempotence_and_commit_after_processing_never_lose_or_reorder(
        seed, crashes_a, crashes_b, outages, cuts):
    trace = run_keyed(seed, crashes_a, crashes_b, outages, cuts)
    assert sk.checks.lost(trace).count == 0
    assert sk.checks.out_of_order(trace).count == 0
    assert sk.checks.duplicates(trace, "append").count == 0


@given(seed=st.integers(0, 10**6), crashes=schedules, outages=windows, cuts=windows)
def test_one_seed_one_history_under_faults(seed, crashes, outages, cuts):
    a = run_keyed(seed, crashes, (), outages, cuts, messages=25)
    b = run_keyed(seed, crashes, (), outages, cuts, messages=25)
    assert a.equals(b)
