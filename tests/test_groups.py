"""The group coordinator on its own: membership, generations, stale commits, session timeouts, resets."""

import pytest

import simkit as sk


class Member:
    """The least a group member needs: topics and the coordinator's two callbacks."""

    def __init__(self, topics=("t",)):
        self.topics = list(topics)
        self.assigned = {}
        self.rebalances = 0

    def on_rebalance(self, member_id):
        self.rebalances += 1

    def on_assignment(self, member_id, generation, partitions):
        self.assigned[member_id] = (generation, partitions)


def group_of(partitions=4, **kw):
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", partitions)
    return w, b, sk.ConsumerGroup(w, b, "g", **kw)


def test_a_rebalance_completes_only_when_every_member_has_rejoined():
    w, b, g = group_of()
    a, c = Member(), Member()
    g.join("a.1", a)
    assert a.assigned["a.1"] == (1, [("t", 0), ("t", 1), ("t", 2), ("t", 3)])
    g.join("c.1", c)
    assert g.rebalancing and g.must_rejoin("a.1") and not g.must_rejoin("c.1")
    assert "c.1" not in c.assigned  # the group stands still until a.1 rejoins
    g.rejoin("a.1")
    assert not g.rebalancing and g.generation == 2
    assert a.assigned["a.1"] == (2, [("t", 0), ("t", 1)]) and c.assigned["c.1"] == (2, [("t", 2), ("t", 3)])


def test_a_commit_from_a_stale_generation_is_refused_and_traced():
    w, b, g = group_of()
    g.join("a.1", Member())
    g.commit("a.1", 1, {("t", 0): 5})
    g.join("c.1", Member())
    g.rejoin("a.1")
    with pytest.raises(sk.CommitFailed):
        g.commit("a.1", 1, {("t", 0): 9})
    assert g.committed_offset("t", 0) == 5
    t = w.trace.to_frame()
    refused = t[t.event == "commit_failed"]
    assert refused.offset.tolist() == [9] and refused.component.tolist() == ["a"]


def test_a_commit_while_the_broker_is_down_is_a_definite_failure():
    w, b, g = group_of()
    g.join("a.1", Member())
    b.outage(10, 100)
    w.run(until=20)
    with pytest.raises(sk.BrokerUnavailable):
        g.commit("a.1", 1, {("t", 0): 1})
    assert g.committed_offset("t", 0) is None


def test_a_crashed_member_leaves_after_the_session_timeout():
    w, b, g = group_of(session_timeout=700)
    g.join("a.1", Member())
    w.run(until=100)
    g.member_crashed("a.1")
    w.run(until=799)
    assert "a.1" in g.members
    w.run(until=801)
    assert "a.1" not in g.members
    t = w.trace.to_frame()
    assert t[t.event == "leave"].time.tolist() == [800]


def test_reset_offsets_needs_a_group_without_live_members():
    w, b, g = group_of(partitions=2)
    g.join("a.1", Member())
    with pytest.raises(sk.ConfigError, match="no live members"):
        g.reset_offsets("t", "earliest")
    g.leave("a.1")
    g.reset_offsets("t", "latest")
    assert g.committed == {("t", 0): 0, ("t", 1): 0}


@pytest.mark.parametrize("kw", [{"session_timeout": 0}, {"session_timeout": True}, {"assignor": "sticky"}])
def test_bad_group_settings_are_config_errors(kw):
    w = sk.World(seed=1)
    b = sk.Broker(w)
    with pytest.raises(sk.ConfigError, match=next(iter(kw))):
        sk.ConsumerGroup(w, b, "g", **kw)


def test_one_group_id_one_group():
    w, b, g = group_of()
    with pytest.raises(sk.ConfigError, match="group"):
        sk.ConsumerGroup(w, b, "g")
