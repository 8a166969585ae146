"""simkit.live.ordering: key partitioning and producer retries on a real producer and consumer group."""

import pytest

import simkit as sk
from simkit.live import ordering

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def key():
    return ordering("key", seed=1, produce_errors=0)


def partitions_per_key(result):
    appends = result.trace[result.trace["event"] == "append"]
    return appends.groupby("key", observed=True)["partition"].nunique()


def test_key_partitioning_never_reorders_a_key(key):
    assert key.report.out_of_order == 0
    assert key.report.stale_writes == 0
    assert key.report.wrong_final == 0
    assert (partitions_per_key(key) == 1).all()


def test_two_consumers_share_the_two_partitions(key):
    applied = key.trace[key.trace["event"] == "email_set"]
    assert applied.groupby("component", observed=True)["partition"].nunique().to_dict() == {
        "consumer-0": 1, "consumer-1": 1}


def test_round_robin_spreads_each_user_over_both_partitions_and_reorders_changes():
    result = ordering("round_robin", seed=1, produce_errors=0)
    assert (partitions_per_key(result) == 2).any()
    assert result.report.out_of_order > 0
    assert result.report.out_of_order == sk.checks.out_of_order(result.trace, "email_set").count
    assert result.report.lost == 0


@pytest.mark.parametrize("kwargs, param", [
    (dict(design="hash"), "design"),
    (dict(idempotent=True, max_in_flight=6), "max_in_flight"),
    (dict(idempotent="yes"), "idempotent"),
    (dict(produce_errors=3, bootstrap_servers="127.0.0.1:9"), "produce_errors"),
    (dict(partitions=0), "partitions"),
])
def test_bad_parameters_raise_config_error_naming_them(kwargs, param):
    design = kwargs.pop("design", "key")
    with pytest.raises(sk.ConfigError) as info:
        ordering(design, **kwargs)
    assert info.value.param == param


def test_an_idempotent_producer_keeps_each_key_in_order_through_retries():
    result = ordering("key", idempotent=True, seed=2, produce_errors=10)
    assert result.params["idempotent"] is True
    assert result.report.retries > 0
    assert result.report.out_of_order == 0 and result.report.stale_writes == 0
