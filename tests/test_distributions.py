import math
import random

import pytest

import simkit as sk


def test_lognormal_is_given_by_median_and_p99():
    d = sk.lognormal(median=20, p99=200)
    assert d.quantile(0.5) == pytest.approx(20)
    assert d.quantile(0.99) == pytest.approx(200)
    rng = random.Random(1)
    xs = sorted(d.sample(rng) for _ in range(40_000))
    assert xs[len(xs) // 2] == pytest.approx(20, rel=0.03)
    assert xs[int(0.99 * len(xs))] == pytest.approx(200, rel=0.08)


@pytest.mark.parametrize("dist,mean", [
    (sk.constant(3), 3), (sk.uniform(2, 4), 3), (sk.exponential(3), 3),
])
def test_sample_means(dist, mean):
    rng = random.Random(2)
    xs = [dist.sample(rng) for _ in range(40_000)]
    assert sum(xs) / len(xs) == pytest.approx(mean, rel=0.02)
    assert dist.mean == pytest.approx(mean)


def test_exponential_quantile():
    assert sk.exponential(10).quantile(0.5) == pytest.approx(10 * math.log(2))


@pytest.mark.parametrize("make,param", [
    (lambda: sk.constant(-1), "value"), (lambda: sk.uniform(5, 1), "high"), (lambda: sk.exponential(0), "mean"),
    (lambda: sk.lognormal(10, 5), "p99"), (lambda: sk.lognormal(0, 5), "median"),
    (lambda: sk.as_distribution("fetch_latency", "fast"), "fetch_latency"),
])
def test_bad_distributions(make, param):
    with pytest.raises(sk.ConfigError, match=param):
        make()


def test_numbers_are_constants():
    assert sk.as_distribution("x", 5) == sk.constant(5)
