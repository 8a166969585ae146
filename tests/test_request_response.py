"""When the caller needs the answer, a broker in between only adds latency; a chain of calls adds it up."""

import pytest

import simkit as sk
from simkit.scenarios.request_response import CHAIN_DESIGNS, DESIGNS

SEEDS = range(4)
HOPS = (1, 2, 4, 8)


def rr(design, seed=0, **params):
    return sk.scenarios.request_response(design, seed=seed, **params)


def chain(hops, design, seed=0, **params):
    return sk.scenarios.call_chain(hops, design, seed=seed, **params)


def test_a_request_through_the_broker_is_slower_than_a_call_at_p50_and_p99():
    for seed in SEEDS:
        rpc, broker = rr("rpc", seed).report, rr("broker", seed).report
        assert rpc.answered == broker.answered == rpc.requests
        assert broker.latency_p50 > 1.5 * rpc.latency_p50, seed
        assert broker.latency_p99 > rpc.latency_p99, seed
        assert broker.latency_mean > rpc.latency_mean, seed


def test_b_does_the_same_work_in_both_designs_so_the_difference_is_the_path():
    for seed in SEEDS[:2]:
        runs = {d: rr(d, seed, requests=100) for d in DESIGNS}
        served = {d: r.trace[r.trace.event == "served"] for d, r in runs.items()}
        assert set(served["rpc"].msg_id) == set(served["broker"].msg_id) == {f"req-{i}" for i in range(100)}
        # the broker design's extra legs show up as produce, fetch and process rows; rpc has none
        t = runs["broker"].trace
        assert {"append", "fetch", "process"} <= set(t.event.astype(str))
        assert not runs["rpc"].trace.event.isin(["append", "fetch"]).any()


def test_a_slower_poll_makes_only_the_broker_design_slower():
    for seed in SEEDS[:2]:
        quick = {d: rr(d, seed, fetch_latency=1).report.latency_p50 for d in DESIGNS}
        slow = {d: rr(d, seed, fetch_latency=50).report.latency_p50 for d in DESIGNS}
        assert slow["rpc"] == quick["rpc"]
        assert slow["broker"] > quick["broker"] + 80  # two polls in the way, 50 ms each


def test_sync_chain_latency_grows_with_the_number_of_hops():
    for seed in SEEDS[:3]:
        reps = [chain(h, "sync_chain", seed).report for h in HOPS]
        means = [r.latency_mean for r in reps]
        assert means == sorted(means) and means[-1] > 5 * means[0], means
        assert reps[-1].latency_p99 > 2 * reps[0].latency_p99
        assert [r.remote_calls for r in reps] == list(map(float, HOPS))


def test_write_then_events_answers_after_one_hop_and_still_gets_every_part_done():
    for seed in SEEDS[:3]:
        one, eight = chain(1, "write_then_events", seed).report, chain(8, "write_then_events", seed)
        assert eight.report.remote_calls == 1.0
        assert eight.report.latency_mean == pytest.approx(one.latency_mean, rel=0.05)
        assert eight.checks["unfinished"].count == 0 and eight.checks["unanswered"].count == 0
        assert eight.report.completion_mean > eight.report.latency_mean  # the rest happens after the answer
        sync8 = chain(8, "sync_chain", seed).report
        assert eight.report.latency_p99 < sync8.latency_p99 and eight.report.latency_mean < sync8.latency_mean


def test_a_chain_of_one_hop_is_the_same_request_in_both_designs():
    a, b = chain(1, "sync_chain", 5).report, chain(1, "write_then_events", 5).report
    assert a.latency_mean == b.latency_mean and a.latency_p99 == b.latency_p99


def test_every_service_of_the_chain_does_its_part_once():
    r = chain(4, "sync_chain", 1, requests=50)
    served = r.trace[r.trace.event == "served"]
    assert len(served) == 4 * 50 and served.groupby("msg_id").component.nunique().eq(4).all()


def test_sweep_over_hops_and_designs():
    df = sk.sweep("call_chain", {"hops": [1, 3], "design": list(CHAIN_DESIGNS)}, seeds=1, requests=30)
    assert len(df) == 4 and {"latency_mean", "latency_p99", "completion_mean"} <= set(df.columns)


@pytest.mark.parametrize("params", [
    dict(design="grpc"), dict(requests=0), dict(arrival_rate=-1), dict(workers=0), dict(partitions=0),
    dict(service_time="fast"), dict(fetch_latency=-1), dict(max_time=0),
])
def test_bad_request_response_parameters_are_config_errors(params):
    kwargs = dict(design="rpc", seed=0, requests=5)
    kwargs.update(params)
    with pytest.raises(sk.ConfigError):
        sk.scenarios.request_response(**kwargs)


@pytest.mark.parametrize("args, params", [
    ((0, "sync_chain"), {}), ((21, "sync_chain"), {}), ((3, "async_chain"), {}), (("sync_chain", 3), {}),
    ((3, "sync_chain"), dict(workers=0)), ((3, "sync_chain"), dict(poll_interval=0)),
    ((3, "sync_chain"), dict(network_latency=-2)), ((3, "sync_chain"), dict(drain=-1)),
])
def test_bad_call_chain_parameters_are_config_errors(args, params):
    with pytest.raises(sk.ConfigError):
        sk.scenarios.call_chain(*args, seed=0, requests=5, **params)


def test_every_trace_event_is_documented():
    runs = [rr(d, 0, requests=20) for d in DESIGNS] + [chain(3, d, 0, requests=20) for d in CHAIN_DESIGNS]
    for r in runs:
        assert set(r.trace.event) <= set(sk.EVENTS)


# -- the lesson's figures read the trace and say what it shows ---------------------------------
def test_request_timeline_follows_the_slowest_request_and_adds_up_its_waits_in_topics():
    import matplotlib.pyplot as plt

    r = rr("broker", 1)
    lat = sk.checks.latencies(r.trace, "request", "responded")
    slowest = lat.idxmax()
    ax = sk.plots.request_timeline(r)
    title = ax.get_title()
    assert f"slowest of {r.report.requests} requests: {slowest} waited {lat.max():.0f} ms" in title
    t = r.trace[r.trace.msg_id.isin([slowest, f"{slowest}/reply"])]
    appended = t[t.event == "append"].set_index("msg_id")["time"]
    picked = t[t.event == "process"].set_index("msg_id")["time"]
    assert f"{(picked - appended).sum():.0f} ms of it sat in topics" in title
    lanes = [lbl.get_text() for lbl in ax.get_yticklabels()]
    assert lanes[0] == "service-a" and "service-b" in lanes and "broker" in lanes
    plt.close("all")


def test_request_timeline_of_a_call_has_no_topic_wait_and_refuses_unknown_ids():
    import matplotlib.pyplot as plt

    r = rr("rpc", 1, requests=40)
    title = sk.plots.request_timeline(r, "req-3").get_title()
    assert "req-3" in title and "slowest" not in title and "topics" not in title
    with pytest.raises(sk.ConfigError, match="msg_id"):
        sk.plots.request_timeline(r, "req-999")
    plt.close("all")


def test_request_timeline_names_the_one_slow_step_of_a_chain():
    import matplotlib.pyplot as plt

    r = chain(6, "sync_chain", 1)
    title = sk.plots.request_timeline(r).get_title()
    assert "6 services did work for it" in title and "alone took" in title
    plt.close("all")


def test_latency_comparison_and_chain_latency_title_their_finding():
    import matplotlib.pyplot as plt

    cdf, bars = sk.plots.latency_comparison({"rpc": rr("rpc", 1, requests=80), "broker": rr("broker", 1, requests=80)})
    assert cdf.figure._suptitle.get_text().startswith("broker is slower than rpc at every percentile")
    df = sk.sweep("call_chain", {"hops": [1, 4], "design": list(CHAIN_DESIGNS)}, seeds=2, requests=40)
    ax = sk.plots.chain_latency(df)
    assert "sync_chain: mean grows" in ax.get_title() and "write_then_events: mean stays" in ax.get_title()
    assert ax.get_ylabel().endswith("(s)")
    plt.close("all")
