import pytest

import simkit as sk


def test_compare_gives_one_row_per_design_and_seed_with_common_random_numbers():
    df = sk.compare("throughput", ["round_robin", "key"], seeds=[1, 2], arrival_rate=0.9, service_rate=1.0,
                    partitions=2, consumers=2, messages=3000)
    assert len(df) == 4 and set(df.columns) >= {"design", "seed", "latency_mean", "lost"}
    means = df.groupby("design").latency_mean.mean()
    assert means["round_robin"] < means["key"]  # dealing in turn smooths each partition's arrivals (E2/M/1)


def test_compare_refuses_values_that_are_not_designs():
    with pytest.raises(sk.ConfigError, match="design"):
        sk.compare("throughput", [0.3, 0.6], seeds=1)


def test_sweep_keeps_the_parameters_beside_the_report():
    df = sk.sweep("throughput", {"arrival_rate": [0.2, 0.8]}, seeds=2, service_rate=1.0, messages=300)
    assert len(df) == 4 and set(df.arrival_rate) == {0.2, 0.8} and (df.service_rate == 1.0).all()


@pytest.mark.parametrize("call,param", [
    (lambda: sk.compare("no_such_lesson", ["a"]), "scenario"),
    (lambda: sk.compare("throughput", [], seeds=1), "designs"),
    (lambda: sk.compare("throughput", ["key"], seeds=0, service_rate=1.0), "seeds"),
    (lambda: sk.sweep("throughput", {}, seeds=1), "over"),
])
def test_bad_input(call, param):
    with pytest.raises(sk.ConfigError, match=param):
        call()


def test_monitor_samples_and_alerts_once_per_crossing():
    w = sk.World(seed=1)
    level = {"v": 0}

    def raise_and_fall():
        for v, t in ((5, 100), (7, 200), (1, 300), (9, 400)):
            yield w.env.timeout(t - w.now)
            level["v"] = v

    w.env.process(raise_and_fall())
    m = sk.Monitor(w, "depth", lambda: level["v"], interval=50, threshold=4, until=500)
    w.run(until=600)
    t = w.trace.to_frame()
    assert t[t.event == "alert"].time.tolist() == [100.0, 400.0]
    assert t[t.event == "resolved"].time.tolist() == [300.0]
    assert m.alerts == 2 and m.to_frame().depth.max() == 9
