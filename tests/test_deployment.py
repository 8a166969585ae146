"""Deployment is a separate choice: the same boundaries as a modular monolith or as services."""

import pytest

import simkit as sk
from simkit.scenarios.deployment import BOUNDARIES, DESIGNS, affected_boundaries

SEEDS = range(3)


def run(design, seed=0, **params):
    return sk.scenarios.deployment(design, seed=seed, **params)


def test_the_monolith_has_fewer_parts_to_run_and_lower_latency():
    for seed in SEEDS:
        mono, svc = run("monolith", seed).report, run("services", seed).report
        assert mono.infrastructure_parts < svc.infrastructure_parts
        assert mono.latency_p50 < svc.latency_p50 and mono.latency_p99 < svc.latency_p99, seed
        assert mono.failed_requests == svc.failed_requests == 0


def test_parts_are_counted_from_the_deployed_rows():
    mono = run("monolith", instances=3).report
    svc = run("services", instances=3, broker_nodes=5).report
    assert (mono.app_instances, mono.databases, mono.brokers, mono.infrastructure_parts) == (3, 1, 0, 4)
    assert (svc.app_instances, svc.databases, svc.brokers) == (3 * len(BOUNDARIES), len(BOUNDARIES), 5)
    assert svc.infrastructure_parts == svc.app_instances + svc.databases + svc.brokers


def test_services_pay_network_hops_the_monolith_makes_as_function_calls():
    mono, svc = run("monolith", 1), run("services", 1)
    assert mono.report.remote_calls == 0 and svc.report.remote_calls > 0
    # the monolith keeps one database, each boundary writing only its own schema
    t = mono.trace
    commits = t[t.event == "db_commit"]
    assert set(commits.component) == {"db"}
    assert {d.split(".")[0] for d in commits.detail} <= set(BOUNDARIES)


def test_both_deployments_serve_the_same_requests_and_send_the_same_notifications():
    mono, svc = run("monolith", 2).trace, run("services", 2).trace
    a, b = mono[mono.event == "request"], svc[svc.event == "request"]
    assert list(a.msg_id) == list(b.msg_id) and list(a.detail) == list(b.detail)
    assert set(mono[mono.event == "notification_sent"].msg_id) == set(svc[svc.event == "notification_sent"].msg_id)


def test_a_broker_outage_stops_only_the_services_that_publish():
    for seed in SEEDS:
        mono = run("monolith", seed, broker_outage=(1000, 2000))
        svc = run("services", seed, broker_outage=(1000, 2000))
        assert mono.report.failed_requests == 0 and mono.report.affected_boundaries == 0
        assert svc.report.failed_requests > 0
        assert affected_boundaries(svc.trace) == ["customers", "orders"]


def test_one_database_down_stops_every_boundary_of_the_monolith_and_one_of_the_services():
    for seed in SEEDS:
        mono = run("monolith", seed, db_outage=("billing", 1000, 1000))
        svc = run("services", seed, db_outage=("billing", 1000, 1000))
        assert affected_boundaries(mono.trace) == list(BOUNDARIES)
        assert affected_boundaries(svc.trace) == ["orders", "billing"]  # orders needs billing to place an order
        assert 0 < svc.report.failed_requests < mono.report.failed_requests
        assert svc.report.affected_billing == 1 and svc.report.affected_customers == 0


def test_failed_requests_fall_inside_the_outage_window():
    res = run("services", 4, db_outage=("inventory", 800, 500))
    t = res.trace
    failed = t[t.event == "request_failed"].msg_id
    started = t[(t.event == "request") & t.msg_id.isin(failed)].time
    assert len(started) > 0 and started.between(800 - 1000, 1300).all()


@pytest.mark.parametrize("kwargs,param", [
    (dict(design="microservices"), "design"),
    (dict(design="monolith", requests=0), "requests"),
    (dict(design="monolith", instances=0), "instances"),
    (dict(design="services", broker_nodes=0), "broker_nodes"),
    (dict(design="services", broker_outage=(-1, 100)), "broker_outage"),
    (dict(design="services", broker_outage=(100, 0)), "broker_outage"),
    (dict(design="services", db_outage=("payments", 0, 100)), "db_outage"),
    (dict(design="services", db_outage=("billing", 0)), "db_outage"),
    (dict(design="services", call_timeout=0), "call_timeout"),
    (dict(design="services", network_latency=-3), "network_latency"),
    (dict(design="services", seed=None), "seed"),
    (dict(design="services", db_outage="billing"), "db_outage"),
    (dict(design="services", db_outage=("billing", 0, float("nan"))), "db_outage"),
    (dict(design="services", requests=100_001), "requests"),
    (dict(design="services", max_time=float("inf")), "max_time"),
    (dict(design="services", client_timeout=-1), "client_timeout"),
])
def test_bad_input_is_a_config_error(kwargs, param):
    with pytest.raises(sk.ConfigError, match=param):
        sk.scenarios.deployment(**kwargs)


def test_unknown_design_lists_the_known_ones():
    with pytest.raises(sk.ConfigError) as err:
        sk.scenarios.deployment("serverless")
    assert all(d in str(err.value) for d in DESIGNS)


def test_failed_request_timeline_follows_a_request_the_broker_outage_failed():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = run("services", 1, broker_outage=(1000, 2000))
    rid = res.checks["failed_requests"].examples[0]
    ax = sk.plots.failed_request_timeline(res)
    title = ax.get_title()
    assert rid in title and f"{res.report.failed_requests:.0f} of {res.report.requests:.0f}" in title
    t = res.trace
    for db in t[(t.msg_id == rid) & (t.event == "db_commit")].component:
        assert db in title  # the work it had already done
    lanes = [x.get_text() for x in ax.get_yticklabels()]
    assert lanes[0] == "client" and lanes[-1] == "broker"
    assert any("send_failed" in x.get_text() for x in ax.texts)
    assert any(h.get_label() == "broker down" for h in ax.get_legend().legend_handles)
    plt.close("all")
    with pytest.raises(sk.ConfigError):  # the monolith has no broker: nothing failed
        sk.plots.failed_request_timeline(run("monolith", 1, broker_outage=(1000, 2000)))
    with pytest.raises(sk.ConfigError):
        sk.plots.failed_request_timeline(sk.scenarios.outage("all_async", seed=0, run_time=2000, start=500,
                                                             outage_ms=1000))


def test_outage_impact_and_latency_bars_show_the_spread_over_seeds():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frames = []
    for label, kw in {"none": {}, "broker down": dict(broker_outage=(1000, 2000))}.items():
        df = sk.compare("deployment", DESIGNS, seeds=3, requests=150, **kw)
        df["outage"] = label
        frames.append(df)
    impact = pd.concat(frames, ignore_index=True)
    ax = sk.plots.outage_impact(impact)
    # one whisker per bar, spanning the lowest to the highest run
    caps = [c for c in ax.containers if hasattr(c, "errorbar") and c.errorbar is not None]
    assert len(caps) == len(DESIGNS)
    svc = impact[(impact.design == "services") & (impact.outage == "broker down")].failed_requests
    segs = caps[1].errorbar.lines[2][0].get_segments()
    assert segs[1][0][1] == pytest.approx(svc.min()) and segs[1][1][1] == pytest.approx(svc.max())
    assert "min-max of 3 runs" in ax.get_legend().get_title().get_text()
    ax = sk.plots.deployment_latency(impact[impact.outage == "none"])
    assert "services" in ax.get_title() and "x monolith" in ax.get_title()
    plt.close("all")


def test_the_old_positional_seed_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match="seed="):
        old = sk.scenarios.deployment("services", 3, requests=30)
    assert old.report == sk.scenarios.deployment("services", seed=3, requests=30).report


def test_a_huge_seed_runs_cleanly():
    r = sk.scenarios.deployment("services", seed=10**12, requests=50)
    assert r.report.requests == 50 and r.report.succeeded + r.report.failed_requests == 50
