"""The throughput scenario against queueing theory (fixed seeds, stated tolerances)."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest

import simkit as sk
from simkit.scenarios.throughput import gm1_erlang_sojourn, message_waits, utilisation


@pytest.mark.parametrize("lam,mu", [(0.5, 1.0), (0.8, 1.0)])
def test_one_partition_one_consumer_is_mm1(lam, mu):
    # M/M/1 mean sojourn time W = 1 / (mu - lambda); the mean of 3 seeds within 7 %
    runs = [sk.scenarios.throughput("round_robin", arrival_rate=lam, service_rate=mu, messages=40_000,
                                    seed=s).report for s in (1, 2, 3)]
    mean = sum(r.latency_mean for r in runs) / len(runs)
    assert mean == pytest.approx(1 / (mu - lam), rel=0.07)
    assert runs[0].theory_latency_mean == pytest.approx(1 / (mu - lam))


def test_mm1_latency_percentile_matches_theory():
    # the M/M/1 sojourn time is exponential with rate mu - lambda: p50 = ln 2 / (mu - lambda)
    r = sk.scenarios.throughput("round_robin", arrival_rate=0.5, service_rate=1.0, messages=60_000, seed=4).report
    assert r.latency_p50 == pytest.approx(0.6931 / 0.5, rel=0.06)
    assert r.latency_p99 == pytest.approx(4.6052 / 0.5, rel=0.1)


def test_round_robin_partitions_are_erlang_queues():
    # every 3rd Poisson arrival goes to each partition: E3/M/1, solved by G/M/1 theory
    r = sk.scenarios.throughput("round_robin", arrival_rate=1.8, service_rate=1.0, partitions=3, consumers=3,
                                messages=60_000, seed=5).report
    assert r.theory_latency_mean == pytest.approx(gm1_erlang_sojourn(1.8, 1.0, 3))
    assert r.latency_mean == pytest.approx(r.theory_latency_mean, rel=0.07)


def test_erlang_one_is_mm1():
    assert gm1_erlang_sojourn(0.5, 1.0, 1) == pytest.approx(2.0)


def test_key_partitioning_splits_poisson_streams():
    # a random split of a Poisson stream is Poisson: each partition is M/M/1 with lambda / P
    r = sk.scenarios.throughput("key", arrival_rate=1.0, service_rate=1.0, partitions=2, consumers=2, messages=40_000,
                                seed=6).report
    assert r.latency_mean == pytest.approx(1 / (1.0 - 0.5), rel=0.1)


def test_more_consumers_than_partitions_are_idle():
    r = sk.scenarios.throughput("round_robin", arrival_rate=0.5, service_rate=1.0, partitions=2, consumers=5,
                                messages=500, seed=1).report
    assert r.idle_consumers == 3


def test_lag_per_partition_over_time_comes_from_the_trace():
    r = sk.scenarios.throughput("round_robin", arrival_rate=0.9, service_rate=1.0, partitions=2, consumers=1,
                                messages=2000, seed=1)
    lag = r.series["lag"]
    assert set(lag.partition) == {0, 1}
    assert lag.lag.max() > 0 and lag.groupby("partition").lag.last().eq(0).all()


def test_utilisation_of_one_consumer_is_arrival_over_service_rate():
    # an M/M/1 server is busy a share rho = lambda / mu of the time
    r = sk.scenarios.throughput("round_robin", arrival_rate=0.5, service_rate=1.0, messages=10_000, seed=2)
    u = r.series["utilisation"]
    assert list(u.consumer) == ["consumer-0"] and u.records.iloc[0] == 10_000
    assert u.utilisation.iloc[0] == pytest.approx(0.5, rel=0.05)
    assert r.report.utilisation_max == pytest.approx(u.utilisation.iloc[0])


def test_utilisation_shows_idle_and_uneven_consumers():
    # 3 partitions over 2 consumers: one owns 2 (range assignor), the other 1; over 5 consumers: 2 idle
    two = sk.scenarios.throughput("round_robin", arrival_rate=0.9, service_rate=1.0, partitions=3, consumers=2,
                                  messages=3_000, seed=1).series["utilisation"]
    assert sorted(two.partitions) == [1, 2] and two.records.sum() == 3_000
    busy = two.set_index("partitions").utilisation
    assert busy[2] == pytest.approx(2 * busy[1], rel=0.15)
    five = sk.scenarios.throughput("round_robin", arrival_rate=0.9, service_rate=1.0, partitions=3, consumers=5,
                                   messages=600, seed=1).series["utilisation"]
    assert list(five.records[3:]) == [0, 0] and list(five.utilisation[3:]) == [0.0, 0.0]
    assert list(five.partitions[:3]) == [1, 1, 1]


def _trace(rows):
    cols = ["time", "component", "event", "topic", "partition", "offset", "key", "msg_id", "detail"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols)


# a hand-made trace: record 0 arrives at 0 and takes 3 ms; record 1 arrives at 1 and waits until 3
HAND = _trace([
    (0.0, "producer", "send", "events", 0, -1, None, 0, None),
    (0.0, "broker", "append", "events", 0, 0, None, 0, None),
    (0.0, "consumer-0", "fetch", None, -1, -1, None, None, "1"),
    (0.0, "consumer-0", "process", "events", 0, 0, None, 0, None),
    (1.0, "producer", "send", "events", 0, -1, None, 1, None),
    (1.0, "broker", "append", "events", 0, 1, None, 1, None),
    (3.0, "consumer-0", "processed", "events", 0, 0, None, 0, None),
    (3.0, "consumer-0", "commit", "events", 0, 1, None, None, "workers"),
    (3.0, "consumer-0", "fetch", None, -1, -1, None, None, "1"),
    (3.0, "consumer-0", "process", "events", 0, 1, None, 1, None),
    (3.5, "consumer-0", "processed", "events", 0, 1, None, 1, None),
    (4.0, "consumer-0", "commit", "events", 0, 2, None, None, "workers"),
])


def test_utilisation_reads_process_rows_of_a_hand_made_trace():
    u = utilisation(HAND, ["consumer-0", "consumer-1"], duration=7.0)
    assert u.busy_ms.tolist() == [3.5, 0.0] and u.utilisation.tolist() == [0.5, 0.0]
    assert u.records.tolist() == [2, 0] and u.partitions.tolist() == [1, 0]


def test_message_waits_of_a_hand_made_trace():
    w = message_waits(HAND)
    assert w.loc[0, "waited_ms"] == 0 and w.loc[0, "ahead"] == 0 and w.loc[0, "commit"] == 3.0
    assert w.loc[1, "waited_ms"] == 2.0 and w.loc[1, "handled_ms"] == 0.5 and w.loc[1, "latency_ms"] == 2.5
    assert w.loc[1, "ahead"] == 1 and w.loc[1, "fetch"] == 3.0 and w.loc[1, "commit"] == 4.0
    assert w.loc[1, "consumer"] == "consumer-0"


def test_message_waits_sees_the_queue_an_arrival_finds():
    # Poisson arrivals see time averages: in M/M/1 an arrival finds rho / (1 - rho) records in the system
    r = sk.scenarios.throughput("round_robin", arrival_rate=0.5, service_rate=1.0, messages=30_000, seed=3)
    w = message_waits(r.trace)
    assert len(w) == 30_000
    assert w.ahead.mean() == pytest.approx(1.0, rel=0.08)
    assert ((w.ahead == 0) == (w.waited_ms == 0)).all()  # no network: only a queue makes a record wait
    assert (w.waited_ms + w.handled_ms - w.latency_ms).abs().max() < 1e-9
    assert w.latency_ms.mean() == pytest.approx(r.report.latency_mean, rel=1e-3)
    # auto commit fires every 5 s: commits land on the timer, and the records of the last seconds have none
    assert (w.commit.dropna() % 5000 == 0).all() and w.commit.iloc[-1:].isna().all()


def test_message_waits_commits_follow_processing_after_processing():
    r = sk.scenarios.throughput("round_robin", arrival_rate=0.8, service_rate=1.0, partitions=2, consumers=2,
                                messages=500, seed=1, commit="after_processing")
    w = message_waits(r.trace)
    assert (w.commit == w.processed).all() and (w.fetch <= w.process).all() and (w.append >= w.send).all()


def test_queueing_plots_state_the_finding():
    r = sk.scenarios.throughput("round_robin", arrival_rate=0.9, service_rate=1.0, partitions=2, consumers=1,
                                messages=400, seed=1,
                                commit="after_processing")
    w = message_waits(r.trace)
    worst = w.waited_ms.idxmax()
    ax = sk.plots.message_timeline(r)
    title = ax.get_title(loc="left")
    assert f"message {worst} waited {w.waited_ms[worst]:.1f} ms" in title
    assert f"queued behind {int(w.ahead[worst])} records" in title
    assert ax.get_xlabel().endswith("(ms)")
    ax = sk.plots.message_timeline(r, 0)
    assert "found its consumer free" in ax.get_title(loc="left")
    with pytest.raises(sk.ConfigError, match="msg_id"):
        sk.plots.message_timeline(r, "nope")
    with pytest.raises(sk.ConfigError, match="pad"):
        sk.plots.message_timeline(r, pad=-1)

    runs = {f"{n}": sk.scenarios.throughput("round_robin", arrival_rate=1.8, service_rate=1.0, partitions=3,
                                            consumers=n, messages=300, seed=1)
            for n in (1, 3, 5)}
    ax = sk.plots.utilisation_bars(runs)
    assert "5: 2 sit idle" in ax.get_title() and "1: a consumer is saturated" in ax.get_title()
    assert ax.get_ylabel().endswith("(%)")

    axes = sk.plots.load_panels(runs["3"])
    assert "lag peaks at" in axes[0].get_title() and "p99" in axes[1].get_title()
    assert axes[0].get_xlabel() == "time (ms)" and "(ms)" in axes[1].get_ylabel()

    loads = sk.sweep("throughput", {"arrival_rate": [0.5, 0.9]}, seeds=2, service_rate=1.0, messages=1_000)
    ax = sk.plots.latency_vs_load(loads)
    assert "at 50% busy" in ax.get_title() and "at 90%" in ax.get_title()
    assert "(%)" in ax.get_xlabel() and "(ms)" in ax.get_ylabel()
    plt.close("all")


@pytest.mark.parametrize("kwargs,param", [
    (dict(design="round_robin", arrival_rate=-1, service_rate=1), "arrival_rate"),
    (dict(arrival_rate=1, service_rate=0), "service_rate"),
    (dict(arrival_rate=1, service_rate=2, partitions=0), "partitions"),
    (dict(arrival_rate=1, service_rate=2, consumers=0), "consumers"),
    (dict(arrival_rate=1, service_rate=2, design="hash"), "design"),
    (dict(arrival_rate=1, service_rate=2, seed="x"), "seed"),
])
def test_bad_input(kwargs, param):
    with pytest.raises(sk.ConfigError, match=param):
        sk.scenarios.throughput(**kwargs)


@pytest.mark.parametrize("messages,limit", [(10, 120.0), (1_000_000, 300.0)])
def test_wall_clock_guard_grows_with_a_big_run(monkeypatch, messages, limit):
    # throughput runs no learner code: its guard is 120 s for small runs and grows past 400,000 records,
    # so a million records on a loaded machine is not stopped as if a handler looped forever
    seen = []

    def run(self, until=None, wall_limit=120.0):
        seen.append(wall_limit)
        raise KeyboardInterrupt  # stop before simulating anything

    monkeypatch.setattr(sk.World, "run", run)
    with pytest.raises(KeyboardInterrupt):
        sk.scenarios.throughput("round_robin", messages=messages, seed=1)
    assert seen == [pytest.approx(limit)]
