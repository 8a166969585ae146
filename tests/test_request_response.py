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
