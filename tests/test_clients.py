"""The two clients' defaults table: complete, used by the consumer, and checked against librdkafka itself."""

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
