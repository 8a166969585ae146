"""A consumer's partitions and positions: where it starts in each, and fetching without starving any."""

import simkit as sk
from simkit.subscription import Subscription


def broker_with(records_per_partition=(5, 5, 5)):
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", len(records_per_partition))
    for partition, n in enumerate(records_per_partition):
        b.produce("p", "t", partition, [(None, None, f"{partition}-{i}", 0.0) for i in range(n)])
    return w, b, sk.ConsumerGroup(w, b, "g")


def test_adopt_starts_at_the_committed_offset_else_where_auto_offset_reset_says():
    for reset, expected in (("earliest", 0), ("latest", 5)):
        w, b, g = broker_with()
        g.committed[("t", 0)] = 3
        s = Subscription(b, reset)
        s.pending = (7, [("t", 0), ("t", 1)])
        assert s.adopt(g) == 7 and s.pending is None
        assert s.positions == {("t", 0): 3, ("t", 1): expected}


def test_fetch_starts_at_a_rotating_partition_so_none_starves():
    w, b, g = broker_with((50, 50, 50))
    s = Subscription(b, "earliest")
    s.pending = (1, [("t", 0), ("t", 1), ("t", 2)])
    s.adopt(g)
    firsts = []
    for _ in range(3):
        batch = s.fetch(10)
        assert len(batch) == 10
        firsts.append(batch[0].partition)
    assert firsts == [0, 1, 2]  # fetch does not move positions: the consumer does, as it hands over


def test_fetch_returns_none_while_the_broker_is_down_and_nothing_without_partitions():
    w, b, g = broker_with()
    s = Subscription(b, "earliest")
    assert s.fetch(10) == []
    s.pending = (1, [("t", 0)])
    s.adopt(g)
    b.outage(0, 100)
    w.run(until=1)
    assert s.fetch(10) is None
