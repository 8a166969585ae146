"""The rebalance lesson: eager stop-the-world pauses, cooperative rebalancing, static members, zombies."""

import pandas as pd
import pytest

import simkit as sk
from simkit.scenarios.rebalance import DESIGNS, partition_pauses

SEEDS = range(3)


def run(design, seed=1, **params):
    return sk.scenarios.rebalance(design, seed=seed, **params)


def test_the_scenario_is_on_the_contract():
    entry = sk.scenarios.SCENARIOS["rebalance"]
    assert entry.designs == DESIGNS == ("eager", "cooperative_sticky", "static_membership")
    assert not sk.glossary.unknown(entry.fields)
    assert set(entry.fields) <= set(run("eager", messages=50).report)


@pytest.mark.parametrize("design", DESIGNS)
def test_no_design_loses_a_record_and_the_group_drains(design):
    for seed in SEEDS:
        r = run(design, seed).report
        assert r.lost == 0 and r.drained == 1 and r.processed == r.produced == 1000, (seed, r)


def test_cooperative_rebalancing_pauses_partitions_for_less_time_than_eager():
    for seed in SEEDS:
        eager, coop = run("eager", seed).report, run("cooperative_sticky", seed).report
        assert coop.pause_total < eager.pause_total, seed
        # it takes two rounds where eager takes one
        assert coop.rebalances > eager.rebalances, seed


def test_a_static_member_restarting_within_the_session_timeout_causes_no_rebalance():
    for seed in SEEDS:
        eager, static = run("eager", seed), run("static_membership", seed)
        # the restarted static member takes its old place back: one join "replaces", and no round for it
        assert static.report.rebalances < eager.report.rebalances, seed
        assert static.report.pause_total < eager.report.pause_total, seed
        t = static.trace
        assert t[(t.event == "join") & t.detail.str.contains("replaces")].shape[0] == 1, seed


def test_a_dynamic_restart_leaves_its_partitions_without_a_consumer_for_the_whole_session_timeout():
    for design in ("eager", "cooperative_sticky"):
        r = run(design, session_timeout=1000).report
        assert r.pause_max >= 1000, design


def test_a_slow_member_becomes_a_zombie_its_commit_is_refused_and_its_record_handled_twice():
    res = run("eager", max_poll_interval=1000, slow_time=1500, slow_record=150)
    t, r = res.trace, res.report
    evicted = t[(t.event == "leave") & t.detail.str.contains("max_poll_interval")]
    assert len(evicted) == 1
    handled = t[(t.event == "side_effect") & (t.msg_id == 150)]
    # the new owner handled it first, then the zombie finished it: twice, by two consumers
    assert len(handled) == 2 and handled.component.nunique() == 2
    assert handled.time.iloc[0] > evicted.time.iloc[0]
    assert r.commits_refused > 0 and r.duplicates > 0 and r.lost == 0
    refused = t[(t.event == "commit_failed") & t.detail.str.contains("stale")]
    assert (refused.component == handled.component.iloc[1]).all()


def test_without_a_poll_deadline_the_slow_record_is_handled_once():
    t = run("eager", slow_time=1500, slow_record=150).trace
    assert ((t.event == "side_effect") & (t.msg_id == 150)).sum() == 1


def test_same_seed_same_history():
    a, b = run("cooperative_sticky", 2), run("cooperative_sticky", 2)
    pd.testing.assert_frame_equal(a.trace, b.trace)


def test_partition_pauses_reads_revokes_crashes_and_assignments():
    rows = [
        (0.0, "group:g", "assign", "c.1 gen 1: [('t', 0), ('t', 1)]"),
        (100.0, "c", "revoke", "[('t', 0), ('t', 1)]"),
        (130.0, "group:g", "assign", "c.1 gen 2: [('t', 0)]"),
        (200.0, "c", "crash", None),
    ]
    trace = pd.DataFrame(rows, columns=["time", "component", "event", "detail"])
    got = partition_pauses(trace, end=250.0)
    # t-0: 30 ms between revoke and assign, then 50 ms from the crash to the end; t-1: revoked at 100, never back
    assert got.to_dict() == {"t-0": 80.0, "t-1": 150.0}


@pytest.mark.parametrize("param,value", [("commit", "sometimes"), ("max_poll_interval", 0), ("slow_time", -1),
                                         ("session_timeout", 0)])
def test_bad_parameters_name_themselves(param, value):
    with pytest.raises(sk.ConfigError) as err:
        run("eager", **{param: value})
    assert err.value.param == param


@pytest.mark.parametrize("design", DESIGNS)
def test_the_scenario_writes_only_documented_events(design):
    t = run(design, max_poll_interval=1000, slow_time=1500).trace
    assert "revoke" in set(t.event) or design == "static_membership"
    assert set(t.event) <= set(sk.EVENTS)


def test_the_ownership_figure_names_the_crash_and_restart_lines_and_keeps_its_legend_off_the_partitions():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = run("eager")
    ax = sk.plots.partition_owners(res, title="eager")
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    handled = res.trace[res.trace.event == "side_effect"]
    assert labels[:-2] == sorted(handled.component.unique())
    assert labels[-2:] == ["consumer crashed", "crashed consumer restarted"]
    crashes = (res.trace.event == "crash").sum() + (res.trace.event == "restart").sum()
    assert len(ax.get_lines()) == crashes > 0
    assert legend.get_bbox_to_anchor().x0 >= ax.get_window_extent().x1 - 1  # outside, right of the axes
    plt.close("all")
