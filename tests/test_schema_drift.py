"""Schema drift: breaking changes break readers without a registry; a registry refuses what its mode forbids."""

from __future__ import annotations

import pytest

import simkit as sk
from simkit.scenarios.schema_drift import DESIGNS, REGISTRIES, schema_change, schema_contract_check, schema_drift
from simkit.schemas import Compatibility, check_compatibility

MODES = [m.value for m in Compatibility]

#: Confluent's summary table ("Schema Evolution and Compatibility"), written out independently of schemas.py:
#: which of these four changes each mode refuses (a rename is a delete plus an add of a required field).
CONFLUENT_REFUSES = {
    "NONE": set(),
    "BACKWARD": {"add_required_field", "rename_field"},
    "FORWARD": {"remove_field", "rename_field"},
    "FULL": {"add_required_field", "remove_field", "rename_field"},
}


@pytest.mark.parametrize("change", ["remove_field", "rename_field"])
@pytest.mark.parametrize("seed", range(3))
def test_without_a_registry_a_breaking_change_gives_decode_failures_and_dead_letters(change, seed):
    r = schema_drift(change, registry=None, seed=seed)
    assert r.report.decode_failures > 0
    assert r.report.dead_lettered == r.report.decode_failures
    assert r.report.processed + r.report.dead_lettered == r.report.produced
    assert r.report.lost == 0 and r.report.rejected_registrations == 0
    t = r.trace
    failed = t.loc[t.event == "decode_failed", "msg_id"]
    sent = t[(t.event == "send") & (t.topic == "payments")].set_index("msg_id")["time"]
    upgraded = t.loc[(t.event == "deployed") & t.detail.str.startswith("billing reads"), "time"].iloc[0]
    # only records written with v2 while billing still read with v1 fail
    assert (sent[failed] >= r.params["change_at"]).all()
    assert (t.loc[t.event == "decode_failed", "time"] <= upgraded).all()


@pytest.mark.parametrize("change", ["add_optional_field", "add_required_field"])
def test_without_a_registry_old_readers_skip_fields_they_do_not_know(change):
    r = schema_drift(change, registry=None, seed=0)
    assert r.report.decode_failures == 0 and r.report.processed == r.report.produced
    assert r.report.shipped == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("change", DESIGNS)
def test_each_registry_mode_refuses_exactly_what_it_forbids_and_the_rest_flows(mode, change):
    v1, v2 = schema_change(change)
    forbidden = bool(check_compatibility(mode, v2, [v1]))
    r = schema_drift(change, registry=mode, seed=0)  # the teams upgrade in the order the mode prescribes
    t = r.trace
    assert r.report.rejected_registrations == int(forbidden) == int((t.event == "schema_rejected").any())
    assert r.report.shipped == int(not forbidden)
    assert r.report.registered_versions == 1 + int(not forbidden)
    assert r.report.lost == 0
    if mode == "NONE":  # checks nothing: the same breakage as no registry at all
        assert r.report.decode_failures == schema_drift(change, registry=None, seed=0).report.decode_failures
        return
    assert r.report.decode_failures == 0 and r.report.dead_lettered == 0
    assert r.report.processed == r.report.produced


@pytest.mark.parametrize("mode", sorted(CONFLUENT_REFUSES))
def test_the_refusals_match_confluents_summary_table(mode):
    refused = {c for c in DESIGNS if schema_drift(c, registry=mode, seed=0).report.rejected_registrations}
    assert refused == CONFLUENT_REFUSES[mode]
    transitive = {c for c in DESIGNS if mode != "NONE" and
                  schema_drift(c, registry=mode + "_TRANSITIVE", seed=0).report.rejected_registrations}
    assert mode == "NONE" or transitive == refused  # with only two versions, transitive changes nothing


def test_a_mode_protects_only_the_upgrade_order_it_was_made_for():
    # BACKWARD lets a field go (new readers cope) but old readers, if they upgrade last, need it
    r = schema_drift("remove_field", registry="BACKWARD", upgrade_order="producer_first", seed=0)
    assert r.report.rejected_registrations == 0 and r.report.decode_failures > 0
    # FORWARD lets a required field in (old readers skip it) but new readers meet old data without it
    r = schema_drift("add_required_field", registry="FORWARD", upgrade_order="consumers_first", seed=0)
    assert r.report.rejected_registrations == 0 and r.report.decode_failures > 0
    # FULL keeps both directions: nothing it allows breaks, whoever goes first
    for change in DESIGNS:
        for order in ("producer_first", "consumers_first"):
            assert schema_drift(change, registry="FULL", upgrade_order=order, seed=0).report.decode_failures == 0


def test_the_contract_check_fails_the_build_exactly_when_shipping_would_break_billing():
    table = schema_contract_check()
    assert list(table.change) == list(DESIGNS)
    for row in table.itertuples():
        broke = schema_drift(row.change, registry=None, seed=1).report.decode_failures > 0
        assert row.passes == (not broke)
        assert bool(row.problems) == broke
    assert len(schema_contract_check("rename_field")) == 1


def test_a_refused_change_leaves_the_trace_a_reason():
    r = schema_drift("rename_field", registry="FULL", seed=0)
    (detail,) = r.trace.loc[r.trace.event == "schema_rejected", "detail"]
    assert "FULL" in detail and "amount" in detail


def test_schema_drift_writes_only_documented_events_and_is_deterministic():
    for change in DESIGNS:
        a = schema_drift(change, registry="BACKWARD", seed=3)
        assert set(a.trace.event) <= set(sk.EVENTS)
        assert a.trace.equals(schema_drift(change, registry="BACKWARD", seed=3).trace)
    assert "backward" not in REGISTRIES
    assert schema_drift("remove_field", registry="backward").params["registry"] == "BACKWARD"


@pytest.mark.parametrize("kwargs", [
    dict(design="drop_table"), dict(registry="SIDEWAYS"), dict(registry=3), dict(upgrade_order="whenever"),
    dict(change_at=-1), dict(upgrade_lag=-5), dict(messages=0), dict(partitions=0),
])
def test_bad_parameters_are_config_errors(kwargs):
    args = dict(design="remove_field") | kwargs
    with pytest.raises(sk.ConfigError):
        schema_drift(**args)
    with pytest.raises(sk.ConfigError):
        schema_change("drop_table")


def test_the_decode_timeline_marks_a_failed_record_and_states_the_count():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    broken = schema_drift("rename_field", registry=None, seed=0)
    ax = sk.plots.decode_timeline(broken)
    first = broken.checks["decode_failures"].examples[0]
    n = broken.report.decode_failures
    assert f"{n} of {broken.report.produced} payments could not be decoded" in ax.get_title()
    assert f"message {first}" in ax.get_title()
    assert [t.get_text() for t in ax.texts] == [f"message {first}"]
    labels = ax.get_legend_handles_labels()[1]
    assert "producer writes v2" in labels and "billing reads v2" in labels
    guarded = schema_drift("rename_field", registry="FULL", seed=0)
    ax = sk.plots.decode_timeline(guarded)
    assert "refused" in ax.get_title() and not ax.texts
    assert "registry refuses v2" in ax.get_legend_handles_labels()[1]
    plt.close("all")


def test_the_old_change_keyword_and_positional_order_still_work_and_warn():
    new = schema_drift("remove_field", registry="FORWARD", seed=2, messages=60)
    with pytest.warns(DeprecationWarning, match="design="):
        by_keyword = schema_drift(change="remove_field", registry="FORWARD", seed=2, messages=60)
    with pytest.warns(DeprecationWarning, match="registry="):
        positional = schema_drift("remove_field", "FORWARD", 2, messages=60)
    assert new.report == by_keyword.report == positional.report
    assert new.params["design"] == "remove_field" and new.params["upgrade_order"] == "producer_first"


def test_the_helpers_are_not_scenarios_and_their_old_address_warns_with_the_new_one():
    assert "schema_change" not in sk.scenarios.__all__ and "schema_contract_check" not in sk.scenarios.__all__
    assert "schema_change" not in sk.scenarios.SCENARIOS
    with pytest.warns(DeprecationWarning, match="simkit.scenarios.schema_drift"):
        assert sk.scenarios.schema_change("remove_field") == schema_change("remove_field")
    with pytest.warns(DeprecationWarning, match="simkit.scenarios.schema_drift"):
        assert sk.scenarios.schema_contract_check("remove_field").equals(schema_contract_check("remove_field"))


def test_every_design_runs_under_compare_and_sweep_writes_a_design_column():
    df = sk.compare("schema_drift", DESIGNS, seeds=1, messages=40, registry="FULL")
    assert list(df.design) == list(DESIGNS)
    grid = sk.sweep("schema_drift", {"design": ["remove_field"], "registry": [None, "FULL"]}, seeds=1, messages=40)
    assert list(grid.design) == ["remove_field"] * 2 and list(grid.registry.fillna("none")) == ["none", "FULL"]

