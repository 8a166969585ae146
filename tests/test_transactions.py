"""Kafka transactions (KIP-98): markers take offsets, LSO, read_committed, fencing, offsets on commit."""

import pytest

from simkit.broker import Broker
from simkit.errors import ConfigError, ProducerFenced
from simkit.groups import ConsumerGroup
from simkit.producer import Producer
from simkit.world import World


def setup():
    world = World(seed=0)
    broker = Broker(world)
    broker.create_topic("out")
    return world, broker


def run_txn(world, producer, values, commit, offsets=None, group=None):
    def steps():
        producer.begin_transaction()
        for v in values:
            producer.send("out", v)
        if offsets:
            yield from producer.send_offsets_to_transaction(offsets, group)
        yield from (producer.commit_transaction() if commit else producer.abort_transaction())
    world.env.process(steps())
    world.env.run()


def test_markers_take_offsets_and_read_committed_skips_aborted():
    world, broker = setup()
    p = Producer(world, broker, "p", transactional_id="t")
    world.env.process(p.init_transactions())
    world.env.run()
    run_txn(world, p, ["a1", "a2"], commit=False)
    run_txn(world, p, ["c1"], commit=True)
    log = broker.log_of("out", 0)
    assert log.end_offset == 5  # 3 records + 2 markers
    assert sorted(log.control) == [2, 4]
    committed, nxt = log.read_visible(0, 100, read_committed=True)
    assert [r.value for r in committed] == ["c1"] and nxt == 5
    uncommitted, _ = log.read_visible(0, 100, read_committed=False)
    assert [r.value for r in uncommitted] == ["a1", "a2", "c1"]


def test_lso_stops_read_committed_at_open_transaction():
    world, broker = setup()
    p = Producer(world, broker, "p", transactional_id="t")
    world.env.process(p.init_transactions())
    world.env.run()
    p.begin_transaction()
    p.send("out", "open")
    world.env.run()
    log = broker.log_of("out", 0)
    assert log.last_stable_offset == 0 and log.end_offset == 1
    assert log.read_visible(0, 10, read_committed=True) == ([], 0)
    assert [r.value for r in log.read_visible(0, 10, read_committed=False)[0]] == ["open"]


def test_new_producer_fences_old_and_aborts_its_transaction():
    world, broker = setup()
    old = Producer(world, broker, "old", transactional_id="t")
    world.env.process(old.init_transactions())
    world.env.run()
    old.begin_transaction()
    old.send("out", "zombie")
    world.env.run()
    new = Producer(world, broker, "new", transactional_id="t")
    world.env.process(new.init_transactions())
    world.env.run()
    log = broker.log_of("out", 0)
    assert 0 in log.aborted and log.last_stable_offset == log.end_offset
    with pytest.raises(ProducerFenced):
        list(old.commit_transaction())


def test_offsets_reach_the_group_only_on_commit():
    world, broker = setup()
    broker.create_topic("in")
    group = ConsumerGroup(world, broker, "g")
    p = Producer(world, broker, "p", transactional_id="t")
    world.env.process(p.init_transactions())
    world.env.run()
    run_txn(world, p, ["x"], commit=False, offsets={("in", 0): 7}, group="g")
    assert group.committed_offset("in", 0) is None
    run_txn(world, p, ["y"], commit=True, offsets={("in", 0): 9}, group="g")
    assert group.committed_offset("in", 0) == 9


def test_isolation_level_is_checked():
    from simkit.clients import CONSUMER_DEFAULTS, consumer_settings
    assert CONSUMER_DEFAULTS["java"]["isolation_level"] == "read_uncommitted"
    assert CONSUMER_DEFAULTS["librdkafka"]["isolation_level"] == "read_committed"
    with pytest.raises(ConfigError, match="read_committed"):
        consumer_settings("java", isolation_level="serializable", max_poll_records=None,
                          auto_commit_interval=None, auto_offset_reset=None, retry_backoff=None,
                          max_poll_interval=None)


@pytest.mark.parametrize("level,seen", [("read_committed", ["c1"]), ("read_uncommitted", ["a1", "c1"])])
def test_consumer_isolation_level_end_to_end(level, seen):
    from simkit.consumer import Consumer
    world, broker = setup()
    p = Producer(world, broker, "p", transactional_id="t")
    world.env.process(p.init_transactions())
    world.env.run()
    run_txn(world, p, ["a1"], commit=False)
    run_txn(world, p, ["c1"], commit=True)
    got = []
    c = Consumer(world, broker, "c", "out", lambda record: got.append(record.value),
                 isolation_level=level, auto_offset_reset="earliest")
    world.env.run(until=5000)
    assert got == seen
    assert c.isolation_level == level
    with pytest.raises(ConfigError, match="read_uncommitted"):
        Consumer(world, broker, "bad", "out", isolation_level="snapshot")


def test_a_producer_fenced_at_commit_leaves_its_transaction_aborted_and_stays_fenced():
    world, broker = setup()
    broker.create_topic("in")
    group = ConsumerGroup(world, broker, "g")
    old = Producer(world, broker, "old", transactional_id="t")
    world.env.process(old.init_transactions())
    world.env.run()
    old.begin_transaction()
    old.send("out", "zombie")
    world.env.process(old.send_offsets_to_transaction({("in", 0): 5}, "g"))
    world.env.run()
    new = Producer(world, broker, "new", transactional_id="t")
    world.env.process(new.init_transactions())
    world.env.run()
    failed = []

    def commit_old():
        try:
            yield from old.commit_transaction()
        except ProducerFenced as err:
            failed.append(err)

    world.env.process(commit_old())
    world.env.run()
    log = broker.log_of("out", 0)
    assert len(failed) == 1
    assert log.aborted == {0} and list(log.control.values()) == ["abort"], "aborted, never committed"
    assert log.read_visible(0, 10, read_committed=True)[0] == []
    assert group.committed_offset("in", 0) is None, "the zombie's offsets never reach the group"
    with pytest.raises(ProducerFenced):
        old.begin_transaction()
    run_txn(world, new, ["fresh"], commit=True)
    assert [r.value for r in log.read_visible(0, 10, read_committed=True)[0]] == ["fresh"]


def _member(world, broker, name, group):
    from simkit.consumer import Consumer
    return Consumer(world, broker, name, "in", group=group, auto_offset_reset="earliest")


def test_offsets_with_a_stale_generation_are_refused_and_the_current_ones_accepted():
    """KIP-447: sendOffsetsToTransaction with the consumer's group metadata is checked by the group coordinator."""
    from simkit.errors import CommitFailed
    world, broker = setup()
    broker.create_topic("in", 2)
    group = ConsumerGroup(world, broker, "g", session_timeout=100)
    first = _member(world, broker, "c0", group)
    world.env.run(until=50)
    stale = first.group_metadata()
    assert (stale.group_id, stale.member_id, stale.generation_id) == ("g", "c0.1", group.generation)
    _member(world, broker, "c1", group)
    world.env.run(until=200)
    assert group.generation > stale.generation_id
    p = Producer(world, broker, "p", transactional_id="t")
    world.env.process(p.init_transactions())
    world.env.run(until=210)
    outcome = []

    def txn(meta):
        p.begin_transaction()
        p.send("out", "x")
        try:
            yield from p.send_offsets_to_transaction({("in", 0): 3}, meta)
        except CommitFailed:
            outcome.append("refused")
            yield from p.abort_transaction()
            return
        yield from p.commit_transaction()
        outcome.append("committed")

    world.env.process(txn(stale))
    world.env.run(until=220)
    assert outcome == ["refused"] and group.committed_offset("in", 0) is None
    world.env.process(txn(first.group_metadata()))
    world.env.run(until=230)
    assert outcome == ["refused", "committed"] and group.committed_offset("in", 0) == 3
    t = world.trace.to_frame()
    assert ((t.event == "commit_failed") & t.detail.str.contains("stale", na=False)).sum() == 1


def test_send_offsets_names_a_bad_group():
    world, broker = setup()
    p = Producer(world, broker, "p", transactional_id="t")
    world.env.process(p.init_transactions())
    world.env.run()
    p.begin_transaction()
    with pytest.raises(ConfigError, match="group_metadata"):
        list(p.send_offsets_to_transaction({("out", 0): 1}, 42))
