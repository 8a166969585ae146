"""Retention (``retention.ms``) deletes old records at the cleaner's runs; consumers reset per ``auto_offset_reset``."""

from __future__ import annotations

import pytest

import simkit as sk
from simkit import World, checks
from simkit.broker import Broker
from simkit.consumer import Consumer
from simkit.errors import ConfigError, OffsetOutOfRange
from simkit.producer import Producer
from simkit.scenarios.replay import replay

RETENTION, CHECK, GAP, N = 2000, 1000, 500, 10


def _build(seed=1, retention=RETENTION, check=CHECK, segment=1):
    # segment.ms=1 with records GAP ms apart: each record rolls a segment of its own
    world = World(seed)
    broker = Broker(world, retention_check_interval=check)
    broker.create_topic("t", 1, retention_ms=retention, segment_ms=segment)
    producer = Producer(world, broker, "p")

    def send():
        for i in range(N):
            producer.produce("t", i, key="k")
            yield world.env.timeout(GAP)

    world.env.process(send())
    return world, broker


def _rows(world, event):
    t = world.trace.to_frame()
    return t[t.event == event]


def test_log_start_moves_only_at_cleaner_runs_and_offsets_are_not_reused():
    world, broker = _build()
    seen = []

    def watch():
        yield world.env.timeout(125)  # between the cleaner's runs, never at one
        for _ in range(int(7500 / 250)):
            seen.append((world.env.now, broker.log_start_offsets("t")[0]))
            yield world.env.timeout(250)

    world.env.process(watch())
    world.run(until=8000)
    for now, start in seen:
        # a record sent at i * GAP may go at the first run (a multiple of CHECK) more than RETENTION later
        runs_done = [k * CHECK for k in range(1, 9) if k * CHECK < now]
        expected = max([sum(1 for i in range(N) if at - i * GAP > RETENTION) for at in runs_done] or [0])
        assert start == expected, (now, start, expected)
    deleted = _rows(world, "retention_deleted")
    assert list(deleted.time) == sorted(set(deleted.time)), "one row per cleaner run and partition"
    assert set(deleted.time) <= {k * CHECK for k in range(1, 9)}
    assert deleted.offset.iloc[-1] == N == broker.end_offsets("t")[0]
    offsets = _rows(world, "append").offset.tolist()
    assert offsets == list(range(N))  # deletion never hands an offset out again


def test_nothing_is_scheduled_without_a_short_retention():
    world = World(0)
    broker = Broker(world)
    broker.create_topic("t", 1)  # Kafka's 7 days: longer than any run
    Producer(world, broker, "p").produce("t", 1)
    world.run(until=86_400_000)
    assert broker._clean_at is None and broker.log_start_offsets("t") == [0]
    assert _rows(world, "retention_deleted").empty


def test_a_lagging_consumer_resets_to_earliest_and_what_it_missed_is_lost():
    world, broker = _build()
    Consumer(world, broker, "c", "t", lambda r: None, auto_offset_reset="earliest", start=4500)
    world.run(until=8000)
    processed = _rows(world, "processed")
    start_at_join = 4  # deleted by the run at 4000: records sent at 0..1500
    assert processed.offset.min() == start_at_join
    lost = checks.lost(world.trace.to_frame())
    assert lost.count == start_at_join
    resets = _rows(world, "offset_reset")
    assert len(resets) == 1 and "no committed offset" in resets.detail.iloc[0]


def test_a_committed_offset_deleted_by_retention_resets_at_the_next_fetch():
    world, broker = _build()
    c = Consumer(world, broker, "c", "t", lambda r: None, auto_offset_reset="earliest",
                 commit="after_processing", session_timeout=500)
    c.crash_at(600)  # down for restart_delay, then back at its commit
    world.run(until=8000)
    assert checks.lost(world.trace.to_frame()).count == 0  # restart_delay 1000 < retention: nothing missed
    world, broker = _build()
    c = Consumer(world, broker, "c", "t", lambda r: None, auto_offset_reset="earliest",
                 commit="after_processing", restart_delay=4000, session_timeout=500)
    c.crash_at(600)
    world.run(until=8000)
    resets = _rows(world, "offset_reset")
    assert len(resets) == 1
    asked = resets.offset.iloc[0]
    assert asked == 2 and "deleted by retention" in resets.detail.iloc[0]
    lost = checks.lost(world.trace.to_frame())
    assert lost.count > 0
    processed = _rows(world, "processed")
    assert set(range(asked)) <= set(processed.offset)  # read before the crash


def test_latest_skips_to_the_end():
    world, broker = _build()
    Consumer(world, broker, "c", "t", lambda r: None, auto_offset_reset="latest",
             commit="after_processing", restart_delay=4000, session_timeout=500).crash_at(600)
    world.run(until=8000)
    resets = _rows(world, "offset_reset")
    assert len(resets) == 1
    end_then = int(resets.time.iloc[0] // GAP) + 1  # records sent at 0, 500, ... up to the reset's time
    assert f"reset to {end_then}" in resets.detail.iloc[0]
    processed = _rows(world, "processed")
    assert not set(processed.offset) & set(range(2, end_then))


def test_none_raises_a_clear_error():
    world, broker = _build()
    Consumer(world, broker, "c", "t", lambda r: None, auto_offset_reset="none", start=4500)
    with pytest.raises(OffsetOutOfRange, match=r"no committed offset.*auto_offset_reset='none'"):
        world.run(until=8000)
    world, broker = _build()
    c = Consumer(world, broker, "c", "t", lambda r: None, auto_offset_reset="earliest")
    world.run(until=3200)  # the run at 3000 deleted offsets 0 and 1
    c.subscription.auto_offset_reset = "none"  # as if deployed with it
    c.seek("t", 0, 0)
    with pytest.raises(OffsetOutOfRange, match=r"offset 0 of t\[0\].*deleted by retention.*log start 2"):
        world.run(until=8000)


def test_offset_reset_values_are_checked_and_librdkafka_aliases_accepted():
    world, broker = _build()
    with pytest.raises(ConfigError, match="earliest.*latest.*none"):
        Consumer(world, broker, "bad", "t", auto_offset_reset="first")
    assert Consumer(world, broker, "a", "t", auto_offset_reset="smallest").auto_offset_reset == "earliest"
    assert Consumer(world, broker, "b", "t", auto_offset_reset="largest").auto_offset_reset == "latest"
    assert Consumer(world, broker, "e", "t", auto_offset_reset="error").auto_offset_reset == "none"
    with pytest.raises(ConfigError, match="retention_ms"):
        broker.create_topic("u", 1, retention_ms=0)
    with pytest.raises(ConfigError, match="retention_check_interval"):
        Broker(world, "b2", retention_check_interval=-1)


def test_a_replay_from_zero_after_retention_starts_at_the_log_start():
    world, broker = _build()
    c = Consumer(world, broker, "c", "t", lambda r: None, auto_offset_reset="earliest")
    world.run(until=5200)
    c.seek("t", 0, 0)
    world.run(until=5300)
    reset = _rows(world, "offset_reset")
    assert list(reset.offset) == [0] and "reset to 6" in reset.detail.iloc[0]
    again = _rows(world, "processed")
    assert again[again.time >= 5200].offset.min() == 6 == broker.log_start_offsets("t")[0]


def test_same_seed_same_history():
    def run():
        world, broker = _build(seed=3)
        Consumer(world, broker, "c", "t", lambda r: None, auto_offset_reset="earliest",
                 commit="after_processing", restart_delay=4000, session_timeout=500).crash_at(600)
        world.run(until=8000)
        return world.trace.to_frame()

    a, b = run(), run()
    assert a.equals(b)


def test_replay_cannot_reach_the_bugs_first_offset_once_retention_deleted_it():
    kept = replay("non_idempotent", seed=0, reset_to="earliest")
    gone = replay("non_idempotent", seed=0, reset_to="earliest", retention_ms=300, retention_check_interval=100,
                  segment_ms=50)
    assert kept.report["unrepaired"] == 0
    t = gone.trace
    at = t.loc[(t.event == "seek") & (t.detail == "reset offsets"), "time"].iloc[0]
    bug_start = t[(t.event == "processed") & (t.component == "projection-v2")].groupby("partition").offset.min()
    starts = t[(t.event == "seek") & (t.detail == "reset offsets")].set_index("partition").offset
    assert (starts > bug_start.reindex(starts.index)).all()  # the replay starts past the bug's first record
    assert gone.report["unrepaired"] > 0
    assert (t.loc[t.event == "retention_deleted", "time"] < at).any()


def test_the_new_trace_events_are_explained():
    world, broker = _build()
    Consumer(world, broker, "c", "t", lambda r: None, auto_offset_reset="earliest", start=4500)
    world.run(until=8000)
    events = set(world.trace.to_frame().event)
    assert {"retention_deleted", "offset_reset"} <= events <= set(sk.EVENTS)


# -- segments: retention deletes whole segments (the topic configs retention.ms and segment.ms) ----------------
def _segmented(segment, until, sends=N, retention=RETENTION):
    world, broker = _build(segment=segment, retention=retention)
    starts = []

    def watch():
        yield world.env.timeout(CHECK / 2)
        while True:
            starts.append((world.env.now, broker.log_start_offsets("t")[0]))
            yield world.env.timeout(CHECK)

    world.env.process(watch())
    world.run(until=until)
    return world, broker, starts


def test_a_segment_rolls_when_a_batch_is_more_than_segment_ms_after_its_first():
    # records at 0, 500, ..., 4500; segment.ms=1200: a segment takes the records up to 1200 ms after its first
    _, broker, _ = _segmented(1200, until=5000, retention=100_000)  # nothing deleted yet
    assert broker.log_of("t")[0].segments == [(0, 3), (3, 6), (6, 9), (9, 10)]  # firsts at 0, 1500, 3000, 4500


def test_retention_deletes_a_segment_only_once_its_newest_record_is_old_enough():
    world, broker, starts = _segmented(1200, until=8000)
    # segment [0, 3) holds records sent at 0..1000: deletable once 1000 is more than RETENTION old,
    # at the first cleaner run after 3000 (4000); [3, 6) (newest at 2500) at 5000; [6, 9) at 7000;
    # the active one [9, 10) (newest at 4500) at 7000 as well
    assert dict(starts) == {500: 0, 1500: 0, 2500: 0, 3500: 0, 4500: 3, 5500: 6, 6500: 6, 7500: 10}
    deleted = _rows(world, "retention_deleted")
    assert list(deleted.time) == [4000, 5000, 7000] and list(deleted.offset) == [3, 6, 10]
    # with a record to a segment (segment.ms below the gap), records go one by one, 2000 ms after they were sent
    _, _, starts = _segmented(1, until=8000)
    assert dict(starts)[4500] == 4 and dict(starts)[5500] == 6  # sent before 2000, before 3000


def test_with_kafkas_segment_ms_a_short_retention_deletes_nothing_while_records_keep_coming():
    # the active segment takes every record while the producer sends (Kafka's 7-day segment.ms)
    world, broker, starts = _segmented(None, until=6000)
    assert all(start == 0 for _, start in starts)  # records 4 s old are still there at 5500
    assert _rows(world, "retention_deleted").empty
    # once the newest record (sent at 4500) is more than RETENTION old, the whole log goes at once
    world, broker, starts = _segmented(None, until=8000)
    deleted = _rows(world, "retention_deleted")
    assert list(deleted.time) == [7000] and list(deleted.offset) == [N]
    assert broker.log_of("t")[0].segments == []


def test_replay_with_kafkas_segment_ms_keeps_every_payment_until_the_sends_stop():
    kept = replay("non_idempotent", seed=0, reset_to="earliest", retention_ms=300, retention_check_interval=100)
    t = kept.trace
    reset_at = t.loc[(t.event == "seek") & (t.detail == "reset offsets"), "time"].min()
    last_send = t.loc[t.event == "append", "time"].max()
    deleted = t[t.event == "retention_deleted"]
    # the one segment per partition keeps taking payments: deleted only once the newest is 300 ms old
    assert (deleted.time > last_send + 300).all() and (deleted.time > reset_at).all()
    assert kept.report["unrepaired"] == 0  # the replay reached the bug's first record


def test_segment_ms_is_checked():
    world = World(0)
    broker = Broker(world)
    for bad in (0, 0.5, -1, float("inf"), "1h"):
        with pytest.raises(ConfigError, match="segment_ms"):
            broker.create_topic(f"t{bad}", 1, retention_ms=1000, segment_ms=bad)
    with pytest.raises(ConfigError, match="segment_ms"):
        replay("non_idempotent", segment_ms=0)
