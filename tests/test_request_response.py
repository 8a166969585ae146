"""When the caller needs the answer, a broker in between only adds latency."""

import pytest

import simkit as sk
from simkit.scenarios.request_response import DESIGNS

SEEDS = range(4)


def rr(design, seed=0, **params):
    return sk.scenarios.request_response(design, seed=seed, **params)


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


@pytest.mark.parametrize("params", [
    dict(design="grpc"), dict(requests=0), dict(arrival_rate=-1), dict(workers=0), dict(partitions=0),
    dict(service_time="fast"), dict(fetch_latency=-1), dict(max_time=0),
])
def test_bad_request_response_parameters_are_config_errors(params):
    kwargs = dict(design="rpc", seed=0, requests=5)
    kwargs.update(params)
    with pytest.raises(sk.ConfigError):
        sk.scenarios.request_response(**kwargs)


def test_the_run_stops_at_max_time_and_counts_what_was_never_answered():
    r = rr("broker", 0, requests=100, max_time=1000)
    assert r.report.duration == 1000 and r.report.answered < r.report.requests
    assert r.checks["unanswered"].count == r.report.requests - r.report.answered > 0


def test_the_old_positional_seed_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match="seed="):
        old = sk.scenarios.request_response("broker", 2, requests=20)
    assert old.report == rr("broker", 2, requests=20).report


def test_every_trace_event_is_documented():
    for r in [rr(d, 0, requests=20) for d in DESIGNS]:
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


def test_latency_comparison_titles_its_finding():
    import matplotlib.pyplot as plt

    cdf, bars = sk.plots.latency_comparison({"rpc": rr("rpc", 1, requests=80), "broker": rr("broker", 1, requests=80)})
    assert cdf.figure._suptitle.get_text().startswith("broker is slower than rpc at every percentile")
    plt.close("all")
