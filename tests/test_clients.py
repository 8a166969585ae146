"""The two clients' defaults table: complete, used by the consumer and the producer, and checked against librdkafka itself."""

import pytest

import simkit as sk
from simkit.clients import (
    CLIENTS,
    CONSUMER_DEFAULTS,
    PRODUCER_DEFAULTS,
    SIMKIT_CONSUMER_DEFAULTS,
    consumer_defaults,
)


def test_both_clients_have_the_same_settings_in_each_table():
    assert set(CONSUMER_DEFAULTS) == set(PRODUCER_DEFAULTS) == set(CLIENTS)
    assert set(CONSUMER_DEFAULTS["java"]) == set(CONSUMER_DEFAULTS["librdkafka"]) == set(SIMKIT_CONSUMER_DEFAULTS)
    assert set(PRODUCER_DEFAULTS["java"]) <= set(PRODUCER_DEFAULTS["librdkafka"])


def test_every_consumer_default_is_a_consumer_parameter_that_the_consumer_takes():
    import inspect

    params = inspect.signature(sk.Consumer).parameters
    for client in CLIENTS:
        for name in CONSUMER_DEFAULTS[client]:
            assert name in params and params[name].default is None, name


def test_simkit_defaults_are_javas_numbers_with_librdkafkas_auto_commit():
    java = dict(CONSUMER_DEFAULTS["java"])
    ours = dict(SIMKIT_CONSUMER_DEFAULTS)
    assert ours.pop("commit") == "auto" and java.pop("commit") == "auto_on_poll"
    assert ours.pop("max_poll_interval") is None
    java.pop("max_poll_interval")
    assert ours == java


def test_the_tables_cannot_be_changed_by_accident():
    with pytest.raises(TypeError):
        CONSUMER_DEFAULTS["java"]["commit"] = "auto"  # type: ignore[index]


def test_an_unknown_client_is_a_config_error():
    with pytest.raises(sk.ConfigError, match="client"):
        consumer_defaults("kafka-python")


# librdkafka's own name for each setting, and how to read its value from rd_kafka_conf_dump()
LIBRDKAFKA_NAMES = {
    "auto_commit_interval": ("auto.commit.interval.ms", int),
    "auto_offset_reset": ("auto.offset.reset", {"largest": "latest", "smallest": "earliest"}.get),
    "session_timeout": ("session.timeout.ms", int),
    "max_poll_interval": ("max.poll.interval.ms", int),
    "assignor": ("partition.assignment.strategy", lambda v: v.split(",")[0]),
    "retry_backoff": ("retry.backoff.ms", int),
    "acks": ("request.required.acks", {"-1": "all", "1": 1, "0": 0}.get),
    "idempotent": ("enable.idempotence", lambda v: v == "true"),
    "retries": ("message.send.max.retries", int),
    "request_timeout": ("request.timeout.ms", int),
    "delivery_timeout": ("message.timeout.ms", int),
    "max_in_flight": ("max.in.flight.requests.per.connection", int),
    "linger": ("queue.buffering.max.ms", int),
    "batch_bytes": ("batch.size", int),
    "batch_records": ("batch.num.messages", int),
    "partitioner": ("partitioner", str),
    "isolation_level": ("isolation.level", str),
}


@pytest.mark.realclient
def test_the_librdkafka_column_is_what_the_bundled_librdkafka_defaults_to():
    from realclient import librdkafka_defaults

    theirs = librdkafka_defaults()
    ours = {**CONSUMER_DEFAULTS["librdkafka"], **PRODUCER_DEFAULTS["librdkafka"]}
    checked = 0
    for name, value in ours.items():
        if name not in LIBRDKAFKA_NAMES:
            continue
        key, read = LIBRDKAFKA_NAMES[name]
        assert read(theirs[key]) == value, (name, key, theirs[key])
        checked += 1
    assert checked == len(ours) - 2  # all but commit (two settings together) and max_poll_records (no such setting)
    # the two settings behind commit="auto": auto commit on, offsets stored as they are handed over
    assert theirs["enable.auto.commit"] == theirs["enable.auto.offset.store"] == "true"


# -- the producer takes its defaults from the table too ---------------------------------------------
def _producer(client=None, **kw):
    world = sk.World(0)
    broker = sk.Broker(world)
    broker.create_topic("t", 4)
    return sk.Producer(world, broker, "p", client=client, **kw)


def test_every_producer_param_in_the_table_is_a_producer_parameter_left_to_the_client():
    import inspect

    from simkit.clients import PRODUCER_PARAMS

    params = inspect.signature(sk.Producer).parameters
    for name in PRODUCER_PARAMS:
        assert name in PRODUCER_DEFAULTS["java"] and name in PRODUCER_DEFAULTS["librdkafka"], name
        assert name in params and params[name].default is None, name


@pytest.mark.parametrize("client", [None, "java", "librdkafka"])
def test_a_producer_takes_its_clients_defaults(client):
    from simkit.partitioners import ConsistentRandomPartitioner, KeyPartitioner

    table = PRODUCER_DEFAULTS[client or "java"]
    p = _producer(client)
    assert p.idempotent is table["idempotent"]
    assert (p.acks, p.retries, p.max_in_flight) == (table["acks"], table["retries"], table["max_in_flight"])
    assert (p.delivery_timeout, p.request_timeout) == (table["delivery_timeout"], table["request_timeout"])
    expected = ConsistentRandomPartitioner if client == "librdkafka" else KeyPartitioner
    assert isinstance(p.partitioner, expected)


def test_librdkafka_places_keys_by_crc32_and_java_by_murmur2():
    from simkit.partitioners import consistent_partition, partition_for

    keys = [f"user-{i}" for i in range(40)]
    for client, place in (("java", partition_for), ("librdkafka", consistent_partition)):
        p = _producer(client)
        assert [p.partitioner(k, 4, topic="t") for k in keys] == [place(k, 4) for k in keys]
    assert [partition_for(k, 4) for k in keys] != [consistent_partition(k, 4) for k in keys]


def test_a_producer_setting_passed_wins_over_the_clients_default():
    p = _producer("librdkafka", idempotent=True, max_in_flight=5, partitioner="key")
    assert p.idempotent is True and p.max_in_flight == 5
    assert type(p.partitioner).__name__ == "KeyPartitioner"
    assert _producer("java", acks=1).idempotent is False  # unset idempotence yields to acks=1, as in Kafka 3.2+
    with pytest.raises(sk.ConfigError, match="acks"):
        _producer("java", acks=1, idempotent=True)
    with pytest.raises(sk.ConfigError, match="client"):
        _producer("kafka-python")


@pytest.mark.parametrize("client", ["java", "librdkafka"])
def test_idempotence_on_lowers_an_unset_max_in_flight_to_five_as_librdkafka_does(client):
    # librdkafka's CONFIGURATION.md (enable.idempotence): max.in.flight is adjusted to 5 when left unset
    p = _producer(client, idempotent=True)
    assert p.idempotent is True and p.max_in_flight == 5 and p.acks == "all"
    with pytest.raises(sk.ConfigError, match="max_in_flight"):
        _producer(client, idempotent=True, max_in_flight=6)  # set by the user: refused, as both clients do


@pytest.mark.parametrize("client", ["java", "librdkafka"])
def test_a_transactional_id_makes_the_producer_idempotent_and_refuses_idempotence_off(client):
    p = _producer(client, transactional_id="invoicer")
    assert p.idempotent is True and p.max_in_flight <= 5 and p.acks == "all"
    with pytest.raises(sk.ConfigError, match="idempotent"):
        _producer(client, transactional_id="invoicer", idempotent=False)
    with pytest.raises(sk.ConfigError, match="acks"):
        _producer(client, transactional_id="invoicer", acks=1)
