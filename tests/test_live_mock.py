"""The mock cluster: a real Kafka-protocol broker on loopback that clients and other processes reach."""

import subprocess
import sys

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from simkit import ConfigError
from simkit.live import MockCluster, library_path

pytestmark = pytest.mark.live


def deliveries(bootstrap, topic, n, partition=0, **conf):
    """Produce ``n`` records to one partition; return each delivery report's error (None: written)."""
    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 0, **conf})
    errors = []
    for i in range(n):
        producer.produce(topic, value=str(i), partition=partition, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(20)
    return errors


def read_all(bootstrap, topic, partition=0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "log_level": 0})
    c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    values = [m.value().decode() for m in c.consume(num_messages=100, timeout=5) if not m.error()]
    c.close()
    return values


def test_library_path_names_the_librdkafka_that_confluent_kafka_bundles():
    assert "librdkafka" in library_path()


def test_cluster_listens_on_loopback_and_holds_topics_with_the_partitions_asked_for():
    with MockCluster() as cluster:
        assert cluster.bootstrap_servers.startswith("127.0.0.1:")
        cluster.create_topic("signups", partitions=3)
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers})
        assert sorted(producer.list_topics("signups", timeout=10).topics["signups"].partitions) == [0, 1, 2]
        assert deliveries(cluster.bootstrap_servers, "signups", 3, partition=2) == [None] * 3
        assert read_all(cluster.bootstrap_servers, "signups", partition=2) == ["0", "1", "2"]


def test_another_process_reaches_the_cluster_by_bootstrap_servers():
    with MockCluster() as cluster:
        cluster.create_topic("t")
        script = ("import sys, confluent_kafka as ck\n"
                  "p = ck.Producer({'bootstrap.servers': sys.argv[1]})\n"
                  "p.produce('t', value='from the child', partition=0)\n"
                  "sys.exit(p.flush(20))\n")
        subprocess.run([sys.executable, "-c", script, cluster.bootstrap_servers], check=True, timeout=60)
        assert read_all(cluster.bootstrap_servers, "t") == ["from the child"]


def test_a_pushed_request_error_fails_the_next_produce_request_with_that_error():
    with MockCluster() as cluster:
        cluster.create_topic("t")
        cluster.push_request_errors("Produce", "TOPIC_AUTHORIZATION_FAILED")
        errors = deliveries(cluster.bootstrap_servers, "t", 1)
        assert [e.code() for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
        assert deliveries(cluster.bootstrap_servers, "t", 1) == [None]  # one error pushed, one request failed


def test_a_retriable_error_is_retried_by_the_client_and_the_record_written_once():
    with MockCluster() as cluster:
        cluster.create_topic("t")
        cluster.push_request_errors("Produce", "NOT_LEADER_FOR_PARTITION", "NOT_LEADER_FOR_PARTITION")
        assert deliveries(cluster.bootstrap_servers, "t", 1, **{"retry.backoff.ms": 10}) == [None]
        assert read_all(cluster.bootstrap_servers, "t") == ["0"]


def test_a_broker_that_is_down_writes_nothing_until_it_is_up_again():
    with MockCluster() as cluster:
        cluster.create_topic("t")
        assert deliveries(cluster.bootstrap_servers, "t", 1) == [None]
        cluster.broker_down(1)
        errors = deliveries(cluster.bootstrap_servers, "t", 1, **{"message.timeout.ms": 500})
        assert [e.code() for e in errors] == [KafkaError._MSG_TIMED_OUT]
        cluster.broker_up(1)
        assert deliveries(cluster.bootstrap_servers, "t", 1) == [None]


def test_deleted_topic_is_gone_from_the_metadata():
    with MockCluster() as cluster:
        cluster.create_topic("gone", partitions=2)
        cluster.delete_topic("gone")
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers})
        assert "gone" not in producer.list_topics(timeout=10).topics


def test_a_closed_cluster_refuses_use_and_closing_twice_is_harmless():
    cluster = MockCluster().start()
    cluster.close()
    cluster.close()
    with pytest.raises(RuntimeError, match="not running"):
        cluster.bootstrap_servers


@pytest.mark.parametrize("call, param", [
    (lambda: MockCluster(brokers=0), "brokers"),
    (lambda: MockCluster(rebalance_delay=-1), "rebalance_delay"),
])
def test_bad_cluster_settings_raise_config_error_naming_the_parameter(call, param):
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.param == param


def test_bad_topic_and_fault_arguments_raise_config_error_naming_the_parameter():
    with MockCluster() as cluster:
        for call, param in [
            (lambda: cluster.create_topic("t", partitions=0), "partitions"),
            (lambda: cluster.create_topic("t", replication_factor=2), "replication_factor"),
            (lambda: cluster.push_request_errors("Nope", 6), "request"),
            (lambda: cluster.push_request_errors("Produce", "NO_SUCH_ERROR"), "errors"),
            (lambda: cluster.broker_down(2), "broker"),
            (lambda: cluster.set_rtt(1, -5), "rtt"),
        ]:
            with pytest.raises(ConfigError) as info:
                call()
            assert info.value.param == param
