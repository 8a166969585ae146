"""Business facts or row changes: a row stream loses the steps a row passes through between two polls."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simkit as sk
from simkit.scenarios.facts_vs_crud import DESIGNS, missed_reactions

SEEDS = range(4)


def run(design, seed=0, **params):
    return sk.scenarios.facts_vs_crud(design, seed=seed, **params)


def test_business_facts_miss_no_reaction_and_row_changes_miss_receipts():
    for seed in SEEDS:
        facts, rows = run("business_facts", seed).report, run("row_changes", seed).report
        assert facts.missed == 0 and facts.unseen_steps == 0, (seed, facts)
        assert facts.receipts_sent == facts.payments == facts.orders, (seed, facts)
        assert facts.published == 3 * facts.orders
        assert rows.missed_receipts > 0, (seed, rows)
        assert rows.receipts_sent + rows.missed_receipts == rows.payments
        # the final state is always captured: only the steps a row passes through get lost
        assert rows.missed_tracking == 0 and rows.tracking_sent == rows.shipments == rows.orders
        assert rows.published < 3 * rows.orders  # coalesced: fewer records than steps


def test_a_receipt_is_missed_exactly_when_no_poll_fell_while_the_order_was_paid():
    for seed in SEEDS:
        res = run("row_changes", seed)
        t = res.trace
        polls = t.loc[t.event == "poll", "time"].to_numpy()
        orders = res.series["orders"]
        for order, row in orders.iterrows():
            polled_while_paid = ((polls > row.paid_at) & (polls < row.shipped_at)).any()
            assert row.receipt == polled_while_paid, (seed, order, row.to_dict())
            if not row.receipt:
                assert "paid" not in row.seen.split(" -> ") and row.seen.endswith("shipped")
                diffs = t[(t.msg_id == order) & (t.event == "row_diff")].detail
                assert not diffs.str.endswith("-> paid").any()


def test_both_designs_see_the_same_orders_at_the_same_times():
    a, b = run("row_changes", 3).series["orders"], run("business_facts", 3).series["orders"]
    cols = ["placed_at", "paid_at", "shipped_at"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_missed_receipts_grow_with_the_poll_interval_and_vanish_when_orders_stay_paid_longer():
    df = sk.sweep("facts_vs_crud", {"poll_interval": [100, 500, 2000]}, seeds=3, design="row_changes")
    means = df.groupby("poll_interval")["missed_receipts"].mean()
    assert means[100] < means[500] < means[2000]
    # an order stays paid 3 s, far longer than the gap between two polls: nothing is coalesced away
    for seed in SEEDS:
        r = run("row_changes", seed, shipping_time=3000).report
        assert r.missed == 0 and r.receipts_sent == r.payments


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), poll=st.floats(20, 3000), orders=st.integers(1, 60))
def test_business_facts_never_miss_whatever_the_poll_interval(seed, poll, orders):
    r = run("business_facts", seed, orders=orders, poll_interval=poll).report
    assert r.missed == 0 and r.receipts_sent == r.orders and r.tracking_sent == r.orders


def test_one_seed_one_history():
    for design in DESIGNS:
        a, b = run(design, 5, orders=50).trace, run(design, 5, orders=50).trace
        pd.testing.assert_frame_equal(a, b)


def test_missed_reactions_reads_the_order_services_rows():
    rows = pd.DataFrame({
        "time": [0, 1, 2, 3, 4, 5],
        "component": ["orders", "orders", "orders", "notifications", "orders", "notifications"],
        "event": ["order_placed", "payment_captured", "order_shipped", "tracking_sent", "payment_captured",
                  "receipt_sent"],
        "msg_id": ["o1", "o1", "o1", "o1", "o2", "o2"],
    })
    found = missed_reactions(rows)
    assert found["missed_receipts"].count == 1 and found["missed_receipts"].examples == ("o1",)
    assert found["missed_tracking"].count == 0


def test_the_plots_state_their_findings():
    res = run("row_changes", 1)
    missed = res.report.missed_receipts
    ax = sk.plots.paid_window(res)
    assert f"{missed} of 200 receipts missed" in ax.get_title()
    order = res.checks["missed_receipts"].examples[0]
    ax = sk.plots.capture_timeline(res, order)
    assert order in ax.get_title() and "no receipt" in ax.get_title()
    df = sk.sweep("facts_vs_crud", {"design": list(DESIGNS), "poll_interval": [200, 800]}, seeds=2, orders=40)
    ax = sk.plots.missed_vs(df)
    assert "business_facts 0" in ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]  # no entry for a band of zero width
    assert "business_facts (0 in every run)" in legend and "business_facts (lowest to highest seed)" not in legend
    assert "row_changes (lowest to highest seed)" in legend
    with pytest.raises(sk.ConfigError, match="order"):
        sk.plots.capture_timeline(res, "order-that-never-was")
    plt.close("all")


def test_the_old_positional_seed_and_the_old_field_name_still_work_with_a_warning():
    new = run("row_changes", 2, orders=20)
    with pytest.warns(DeprecationWarning, match="seed="):
        old = sk.scenarios.facts_vs_crud("row_changes", 2, orders=20)
    assert old.report == new.report
    with pytest.warns(DeprecationWarning, match="published"):
        assert new.report.records_published == new.report.published


@pytest.mark.parametrize("kwargs,param", [
    (dict(design="cdc"), "design"),
    (dict(design="row_changes", orders=0), "orders"),
    (dict(design="row_changes", arrival_rate=0), "arrival_rate"),
    (dict(design="row_changes", poll_interval=0), "poll_interval"),
    (dict(design="row_changes", shipping_time="soon"), "shipping_time"),
    (dict(design="business_facts", partitions=0), "partitions"),
    (dict(design="business_facts", seed=1.5), "seed"),
    (dict(design="row_changes", poll_interval=1e-9), "poll_interval"),
    (dict(design="row_changes", orders=100_001), "orders"),
    (dict(design="row_changes", max_time=float("nan")), "max_time"),
    (dict(design="business_facts", partitions=65), "partitions"),
])
def test_bad_input_is_a_config_error(kwargs, param):
    with pytest.raises(sk.ConfigError, match=param):
        sk.scenarios.facts_vs_crud(**kwargs)


def test_paid_window_legend_covers_no_bar_and_lists_no_missed_receipt_when_none_was():
    shipping = sk.lognormal(median=4000, p99=40_000)  # lesson 10's control: poll every 50 ms, slow shipping
    res = sk.scenarios.facts_vs_crud("row_changes", seed=3, orders=120, poll_interval=50, shipping_time=shipping)
    assert res.report.missed_receipts == 0
    ax = sk.plots.paid_window(res)
    legend = ax.get_legend()
    assert "receipt missed" not in [t.get_text() for t in legend.get_texts()]
    ax.figure.canvas.draw()
    box = legend.get_window_extent().transformed(ax.transData.inverted())
    edges, heights = ax.patches[0].get_path().vertices.T  # the "receipt sent" outline: its top edge is the bar
    under = heights[(edges > box.x0) & (edges < box.x1)]
    assert under.max() < box.y0, (under.max(), box.y0)  # the tallest bar under the legend stops below it
    plt.close("all")
