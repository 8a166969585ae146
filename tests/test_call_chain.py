"""A chain of calls adds up every hop's latency; a write and events answer after one hop."""

import pytest

import simkit as sk
from simkit.scenarios.call_chain import DESIGNS

SEEDS = range(3)
HOPS = (1, 2, 4, 8)


def chain(hops, design, seed=0, **params):
    return sk.scenarios.call_chain(design, hops=hops, seed=seed, **params)


def test_sync_chain_latency_grows_with_the_number_of_hops():
    for seed in SEEDS:
        reps = [chain(h, "sync_chain", seed).report for h in HOPS]
        means = [r.latency_mean for r in reps]
        assert means == sorted(means) and means[-1] > 5 * means[0], means
        assert reps[-1].latency_p99 > 2 * reps[0].latency_p99
        assert [r.remote_calls for r in reps] == list(map(float, HOPS))


def test_write_then_events_answers_after_one_hop_and_still_gets_every_part_done():
    for seed in SEEDS:
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
    df = sk.sweep("call_chain", {"hops": [1, 3], "design": list(DESIGNS)}, seeds=1, requests=30)
    assert len(df) == 4 and {"latency_mean", "latency_p99", "completion_mean"} <= set(df.columns)


@pytest.mark.parametrize("params", [
    dict(hops=0), dict(hops=21), dict(design="async_chain"), dict(workers=0), dict(poll_interval=0),
    dict(network_latency=-2), dict(drain=-1), dict(hops=2.5), dict(requests=100_001), dict(poll_interval=1e-9),
    dict(arrival_rate=float("nan")),
])
def test_bad_call_chain_parameters_are_config_errors(params):
    kwargs = dict(design="sync_chain", hops=3, seed=0, requests=5)
    kwargs.update(params)
    with pytest.raises(sk.ConfigError):
        sk.scenarios.call_chain(**kwargs)


def test_the_old_call_with_hops_first_still_works_with_a_warning_naming_the_new_one():
    with pytest.warns(DeprecationWarning, match="hops="):
        old = sk.scenarios.call_chain(3, "sync_chain", 1, requests=20)
    assert old.report == chain(3, "sync_chain", 1, requests=20).report
    with pytest.warns(DeprecationWarning), pytest.raises(sk.ConfigError, match="design"):
        sk.scenarios.call_chain("sync_chain", 3)  # the design first and hops second was never a call


def test_compare_runs_every_design_of_the_chain():
    df = sk.compare("call_chain", DESIGNS, seeds=1, hops=3, requests=20)
    assert list(df.design) == list(DESIGNS) and (df.hops == 3).all() and (df.answered == 20).all()


def test_request_timeline_names_the_one_slow_step_of_a_chain():
    import matplotlib.pyplot as plt

    r = chain(6, "sync_chain", 1)
    title = sk.plots.request_timeline(r).get_title()
    assert "6 services did work for it" in title and "alone took" in title
    plt.close("all")


def test_request_timeline_goes_to_a_service_before_its_database_never_from_the_caller_to_the_database():
    import matplotlib.pyplot as plt

    ax = sk.plots.request_timeline(chain(6, "sync_chain", 1))
    lanes = [t.get_text() for t in ax.get_yticklabels()]
    path = [lanes[int(round(y))] for y in ax.lines[0].get_ydata()]
    hops = list(zip(path, path[1:]))
    assert ("client", "service-0") in hops and ("client", "service-0-db") not in hops
    for a, b in hops:  # a database lane is reached only from its own service, and left only back to it
        if b.endswith("-db"):
            assert a == b[:-3], hops
        if a.endswith("-db"):
            assert b == a[:-3], hops
    plt.close("all")


def test_every_trace_event_is_documented():
    for r in [chain(3, d, 0, requests=20) for d in DESIGNS]:
        assert set(r.trace.event) <= set(sk.EVENTS)


# -- the lesson's figures read the trace and say what it shows ---------------------------------
def test_chain_latency_titles_its_finding():
    import matplotlib.pyplot as plt

    df = sk.sweep("call_chain", {"hops": [1, 4], "design": list(DESIGNS)}, seeds=2, requests=40)
    ax = sk.plots.chain_latency(df)
    assert "sync_chain: mean grows" in ax.get_title() and "write_then_events: mean stays" in ax.get_title()
    assert ax.get_ylabel().endswith("(s)")
    plt.close("all")
