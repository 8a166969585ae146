"""The throughput scenario against queueing theory (fixed seeds, stated tolerances)."""

import pytest

import simkit as sk
from simkit.scenarios.throughput import gm1_erlang_sojourn


@pytest.mark.parametrize("lam,mu", [(0.5, 1.0), (0.8, 1.0)])
def test_one_partition_one_consumer_is_mm1(lam, mu):
    # M/M/1 mean sojourn time W = 1 / (mu - lambda); the mean of 3 seeds within 7 %
    runs = [sk.scenarios.throughput(lam, mu, messages=40_000, seed=s).report for s in (1, 2, 3)]
    mean = sum(r.latency_mean for r in runs) / len(runs)
    assert mean == pytest.approx(1 / (mu - lam), rel=0.07)
    assert runs[0].theory_latency_mean == pytest.approx(1 / (mu - lam))


def test_mm1_latency_percentile_matches_theory():
    # the M/M/1 sojourn time is exponential with rate mu - lambda: p50 = ln 2 / (mu - lambda)
    r = sk.scenarios.throughput(0.5, 1.0, messages=60_000, seed=4).report
    assert r.latency_p50 == pytest.approx(0.6931 / 0.5, rel=0.06)
    assert r.latency_p99 == pytest.approx(4.6052 / 0.5, rel=0.1)


def test_round_robin_partitions_are_erlang_queues():
    # every 3rd Poisson arrival goes to each partition: E3/M/1, solved by G/M/1 theory
    r = sk.scenarios.throughput(1.8, 1.0, partitions=3, consumers=3, messages=60_000, seed=5).report
    assert r.theory_latency_mean == pytest.approx(gm1_erlang_sojourn(1.8, 1.0, 3))
    assert r.latency_mean == pytest.approx(r.theory_latency_mean, rel=0.07)


def test_erlang_one_is_mm1():
    assert gm1_erlang_sojourn(0.5, 1.0, 1) == pytest.approx(2.0)


def test_key_partitioning_splits_poisson_streams():
    # a random split of a Poisson stream is Poisson: each partition is M/M/1 with lambda / P
    r = sk.scenarios.throughput(1.0, 1.0, partitions=2, consumers=2, partitioner="key", messages=40_000,
                                seed=6).report
    assert r.latency_mean == pytest.approx(1 / (1.0 - 0.5), rel=0.1)


def test_more_consumers_than_partitions_are_idle():
    r = sk.scenarios.throughput(0.5, 1.0, partitions=2, consumers=5, messages=500, seed=1).report
    assert r.idle_consumers == 3


def test_lag_per_partition_over_time_comes_from_the_trace():
    r = sk.scenarios.throughput(0.9, 1.0, partitions=2, consumers=1, messages=2000, seed=1)
    lag = r.series["lag"]
    assert set(lag.partition) == {0, 1}
    assert lag.lag.max() > 0 and lag.groupby("partition").lag.last().eq(0).all()


@pytest.mark.parametrize("kwargs,param", [
    (dict(arrival_rate=-1, service_rate=1), "arrival_rate"),
    (dict(arrival_rate=1, service_rate=0), "service_rate"),
    (dict(arrival_rate=1, service_rate=2, partitions=0), "partitions"),
    (dict(arrival_rate=1, service_rate=2, consumers=0), "consumers"),
    (dict(arrival_rate=1, service_rate=2, partitioner="hash"), "partitioner"),
    (dict(arrival_rate=1, service_rate=2, seed="x"), "seed"),
])
def test_bad_input(kwargs, param):
    with pytest.raises(sk.ConfigError, match=param):
        sk.scenarios.throughput(**kwargs)
