"""sk.scenarios.replication: acks=1 loses acknowledged records at failover, acks=all does not, unclean election does."""

import pytest

import simkit as sk
from simkit.glossary import unknown
from simkit.scenarios.replication import FIELDS, final_logs, lost_acknowledged


@pytest.fixture(scope="module")
def runs():
    return {(d, s): sk.scenarios.replication(d, seed=s) for d in ("acks_1", "acks_all", "acks_all_unclean")
            for s in (0, 1)}


@pytest.mark.parametrize("seed", (0, 1))
def test_acks_1_loses_acknowledged_records_at_failover(runs, seed):
    report = runs[("acks_1", seed)].report
    assert report.lost_acknowledged > 0 and report.failovers == 1 and report.unclean_elections == 0


@pytest.mark.parametrize("seed", (0, 1))
def test_acks_all_with_min_insync_2_loses_no_acknowledged_record(runs, seed):
    report = runs[("acks_all", seed)].report
    assert report.lost_acknowledged == 0 and report.failovers == 1
    assert report.acknowledged == report.produced, "every record was acknowledged in the end"
    assert report.duplicates == 0, "the idempotent producer's retries to the new leader wrote nothing twice"


@pytest.mark.parametrize("seed", (0, 1))
def test_unclean_election_loses_what_acks_all_had_acknowledged(runs, seed):
    report = runs[("acks_all_unclean", seed)].report
    assert report.unclean_elections == 1
    assert report.lost_acknowledged > 100
    assert report.refused_not_enough_replicas > 0, "the unclean leader alone is fewer than min_insync_replicas"


def test_acks_all_waits_for_the_followers_and_acks_1_does_not(runs):
    assert runs[("acks_all", 0)].report.latency_p50 > 3 * runs[("acks_1", 0)].report.latency_p50


@pytest.mark.parametrize("design", ("acks_1", "acks_all_unclean"))
def test_what_is_lost_is_what_the_replicas_truncated(runs, design):
    run = runs[(design, 0)]
    trace = run.trace
    truncated = set(trace.loc[trace.event == "truncate", "msg_id"])
    lost = lost_acknowledged(trace)
    assert lost.count == run.report.lost_acknowledged
    acked = set(trace.loc[trace.event == "acked", "msg_id"])
    leader_log = set(final_logs(trace)[("broker-1" if design == "acks_1" else "broker-2", "payments", 0)])
    assert acked - leader_log <= truncated
    assert len(acked - leader_log) == lost.count


def test_replicas_hold_one_log_at_the_end(runs):
    logs = final_logs(runs[("acks_all_unclean", 0)].trace)
    assert len({tuple(v) for v in logs.values()}) == 1


def test_min_insync_1_lets_acks_all_lose_records_with_the_unclean_leader_too():
    loose = sk.scenarios.replication("acks_all_unclean", seed=0, min_insync_replicas=1).report
    assert loose.lost_acknowledged > 0 and loose.refused_not_enough_replicas == 0


def test_without_a_leader_crash_nothing_is_lost_or_elected():
    report = sk.scenarios.replication("acks_1", seed=0, leader_crash=None, messages=500).report
    assert report.lost_acknowledged == 0 and report.failovers == 0 and report.truncated == 0


def test_the_scenario_is_on_the_contract():
    entry = sk.scenarios.SCENARIOS["replication"]
    assert entry.designs == ("acks_1", "acks_all", "acks_all_unclean")
    assert entry.fields == FIELDS and not unknown(FIELDS)
    run = sk.scenarios.replication("acks_1", seed=2, messages=300)
    assert set(run.report) == set(FIELDS)
    assert set(run.trace.event) <= set(sk.EVENTS)


def test_one_seed_gives_one_history():
    a = sk.scenarios.replication("acks_all", seed=5, messages=400).trace
    b = sk.scenarios.replication("acks_all", seed=5, messages=400).trace
    assert a.equals(b)


@pytest.mark.parametrize("kwargs, param", [
    ({"design": "acks_2"}, "design"),
    ({"design": "acks_1", "min_insync_replicas": 4}, "min_insync_replicas"),
    ({"design": "acks_1", "leader_crash": (100, -1)}, "leader_crash"),
    ({"design": "acks_1", "replication_delay": "fast"}, "replication_delay"),
    ({"design": "acks_1", "acks": 1}, "acks"),
])
def test_bad_parameters_raise_a_config_error_naming_them(kwargs, param):
    with pytest.raises(sk.ConfigError) as err:
        sk.scenarios.replication(**kwargs)
    assert err.value.param == param


def test_replica_logs_draws_each_broker_and_its_truncations(runs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = runs[("acks_1", 0)]
    ax = sk.plots.replica_logs(run)
    labels = ax.get_legend_handles_labels()[1]
    assert {"broker-0 log end", "broker-1 log end", "broker-2 log end", "broker-0 down", "truncated"} <= set(labels)
    broker0 = next(line for line in ax.get_lines() if line.get_label() == "broker-0 log end")
    ys = list(broker0.get_ydata())
    assert any(b < a for a, b in zip(ys, ys[1:])), "the line drops where broker-0 truncates"
    assert f"{run.report.lost_acknowledged:.0f} acknowledged" in ax.get_title()
    plt.close("all")


def test_replica_logs_hatch_each_brokers_outage_and_widen_each_line_so_none_hides_another(runs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = sk.plots.replica_logs(runs[("acks_all_unclean", 0)])  # broker 2, then brokers 0 and 1, down at once
    handles, labels = ax.get_legend_handles_labels()
    down = {label: h for h, label in zip(handles, labels) if label.endswith(" down")}
    assert set(down) == {"broker-0 down", "broker-1 down", "broker-2 down"}
    assert len({h.get_hatch() for h in down.values()}) == 3  # a filled shade would blend where they overlap
    assert all(h.get_facecolor()[3] == 0 for h in down.values())
    widths = [line.get_linewidth() for line in ax.get_lines() if line.get_label().endswith(" log end")]
    assert len(widths) == 3 and widths == sorted(widths, reverse=True) and len(set(widths)) == 3  # in step, all show
    plt.close("all")
