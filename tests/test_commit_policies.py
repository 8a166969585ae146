"""Commit policies as classes: one class per policy, a registry of names, and room for a new one."""

import pytest

import simkit as sk
from simkit.commit_policies import COMMIT_POLICIES, POLICIES, CommitPolicy, resolve_policy
from simkit.consumer import handler_arity


def test_every_policy_name_maps_to_the_class_that_carries_that_name():
    assert COMMIT_POLICIES == tuple(POLICIES) == sk.COMMIT_POLICIES
    for name, cls in POLICIES.items():
        assert issubclass(cls, CommitPolicy) and cls.name == name
        assert resolve_policy(name) is cls


def test_an_unknown_policy_is_a_config_error_that_lists_the_names():
    with pytest.raises(sk.ConfigError) as err:
        resolve_policy("sometimes")
    assert all(name in str(err.value) for name in COMMIT_POLICIES)
    with pytest.raises(sk.ConfigError):
        resolve_policy(CommitPolicy)  # the base class commits nothing: not a policy of its own


class CommitEveryTenth(CommitPolicy):
    """A learner's own policy: commit synchronously after every tenth record handled."""

    name = "every_tenth"

    def __init__(self, consumer):
        super().__init__(consumer)
        self.count = 0

    def processed(self, record):
        self.count += 1
        if self.count % 10:
            return super().processed(record)
        return self.consumer.commit({(record.topic, record.partition): record.offset + 1})


def test_a_new_policy_is_a_new_class_passed_as_commit():
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b)
    for i in range(35):
        p.send("t", msg_id=i)
    c = sk.Consumer(w, b, "c", "t", commit=CommitEveryTenth, auto_offset_reset="earliest")
    w.run(until=1000)
    t = w.trace.to_frame()
    assert c.commit_policy == "every_tenth"
    assert t[t.event == "commit"].offset.tolist() == [10, 20, 30]


def test_handler_arity_tells_one_argument_handlers_from_two():
    assert handler_arity(lambda record: None) == 1
    assert handler_arity(lambda record, ctx: None) == 2
    assert handler_arity(print) == 2  # *args
    with pytest.raises(sk.ConfigError, match="handler"):
        handler_arity(lambda: None)
