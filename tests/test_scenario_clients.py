"""``client=`` on every scenario that builds producers or consumers: checked, passed through, and visible in a run."""

import importlib
import inspect

import pandas as pd
import pytest

import simkit as sk
from simkit.consumer import Consumer
from simkit.partitioners import consistent_partition, partition_for
from simkit.producer import Producer
from simkit.scenarios.registry import SCENARIOS

# every registered scenario that builds a Producer or a Consumer (order_workflow builds neither)
WITH_CLIENTS = (
    "add_consumer", "call_chain", "consume", "dead_letters", "dedupe", "deployment", "exactly_once", "facts_vs_crud", "hot_keys", "ordering",
    "outage", "profile_update", "publish", "rebalance", "replay", "replication", "request_response",
    "schema_drift", "throughput",
)


def _module(name):
    return importlib.import_module(SCENARIOS[name].function.__module__)


def test_the_list_is_every_scenario_module_that_builds_a_producer_or_a_consumer():
    builds = {name for name in SCENARIOS
              if any(f"{cls}(world" in inspect.getsource(_module(name)) for cls in ("Producer", "Consumer"))}
    assert builds <= set(WITH_CLIENTS) and set(WITH_CLIENTS) <= set(SCENARIOS)
    assert set(WITH_CLIENTS) - builds == set()


@pytest.mark.parametrize("name", WITH_CLIENTS)
def test_every_such_scenario_takes_client_defaulting_to_java(name):
    assert SCENARIOS[name].defaults["client"] == "java"
    assert "client" in inspect.signature(SCENARIOS[name].function).parameters


@pytest.mark.parametrize("name", WITH_CLIENTS)
def test_an_unknown_client_is_a_config_error_naming_the_parameter_and_the_two_clients(name):
    s = SCENARIOS[name]
    with pytest.raises(sk.ConfigError) as info:
        s.function(s.designs[0], client="kafka-python")
    assert info.value.param == "client"
    assert "'java'" in str(info.value) and "'librdkafka'" in str(info.value)


class _BeforeProducer(Producer):
    """A producer built as the scenarios built them before ``client=``: Kafka 3.x's defaults."""

    def __init__(self, *args, client=None, **kw):
        super().__init__(*args, **kw)


class _BeforeConsumer(Consumer):
    """A consumer built as the scenarios built them before ``client=``: simkit's own defaults."""

    def __init__(self, *args, client=None, **kw):
        super().__init__(*args, **kw)


@pytest.mark.parametrize("name", WITH_CLIENTS)
def test_the_default_java_client_gives_the_same_trace_as_the_clients_left_unset(name, monkeypatch):
    s = SCENARIOS[name]
    design = s.designs[-1]
    default = s.function(design, seed=4).trace
    mod = _module(name)
    for attr, cls in (("Producer", _BeforeProducer), ("Consumer", _BeforeConsumer)):
        if hasattr(mod, attr):
            monkeypatch.setattr(mod, attr, cls)
    before = s.function(design, seed=4).trace
    assert len(default) > 0
    pd.testing.assert_frame_equal(default, before)


def test_librdkafka_leaves_idempotence_off_and_retries_reorder_a_users_changes():
    # the same key-partitioned run; only the client differs. Java: idempotent, never out of order
    java = [sk.scenarios.ordering("key", seed=s, client="java") for s in range(3)]
    rdk = [sk.scenarios.ordering("key", seed=s, client="librdkafka") for s in range(3)]
    assert all(r.params["idempotent"] is True for r in java)
    assert all(r.params["idempotent"] is False for r in rdk)
    assert sum(r.report.out_of_order + r.report.duplicates for r in java) == 0
    assert all(r.report.retries > 0 for r in rdk)
    assert sum(r.report.out_of_order for r in rdk) > 0 and sum(r.report.duplicates for r in rdk) > 0
    # reordering after a retry shows in the log: a user's changes appended in another order than sent
    res = next(r for r in rdk if r.report.out_of_order)
    t, mid = res.trace, res.checks["out_of_order"].examples[0]
    key = t.loc[(t.event == "send") & (t.msg_id == mid), "key"].iloc[0]
    assert list(t.loc[(t.event == "append") & (t.key == key), "msg_id"]) != \
        list(t.loc[(t.event == "send") & (t.key == key), "msg_id"])


def test_librdkafka_places_a_scenarios_keys_by_crc32_where_java_uses_murmur2():
    placed = {}
    for client, place in (("java", partition_for), ("librdkafka", consistent_partition)):
        res = sk.scenarios.hot_keys("key", seed=2, client=client)
        appends = res.trace[res.trace.event == "append"]
        n = int(res.params["partitions"])
        assert len(appends) > 100
        assert all(p == place(k, n) for k, p in zip(appends.key, appends.partition)), client
        placed[client] = dict(zip(appends.key, appends.partition))
    differ = [k for k in placed["java"] if placed["java"][k] != placed["librdkafka"][k]]
    assert differ  # a Python learner who keeps the default gets other partitions than the Java client


def test_librdkafka_consumers_take_one_record_a_poll_unless_the_scenario_says_otherwise():
    java = sk.scenarios.hot_keys("key", seed=2, client="java").trace
    rdk = sk.scenarios.hot_keys("key", seed=2, client="librdkafka").trace
    # confluent-kafka's poll() hands over one message: many more fetches for the same records
    assert (rdk.event == "fetch").sum() > 2 * (java.event == "fetch").sum()
