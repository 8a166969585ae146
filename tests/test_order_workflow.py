"""Workflows, not rollbacks: a local rollback cannot undo a charge or a label; a saga reacts to each fact."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk
from simkit.scenarios.order_workflow import DESIGNS, STATES, inconsistent_orders, order_states

SEEDS = range(4)
NEVER = 10**7  # a timeout no call reaches: switches timeouts off


def run(design, seed=0, **params):
    return sk.scenarios.order_workflow(design, seed=seed, **params)


def test_the_saga_leaves_no_order_inconsistent_and_none_open():
    for seed in SEEDS:
        r = run("saga", seed).report
        assert r.inconsistent == 0 and r.open == 0, (seed, r)
        assert r.cancelled > 0 and r.completed > 0, (seed, r)  # the carrier outage did strike
        assert sum(r[s] for s in STATES) == r.orders


@given(seed=st.integers(0, 1000), start=st.floats(0, 6000), duration=st.floats(100, 6000),
       payment_timeout=st.floats(200, 2000), carrier_timeout=st.floats(200, 2000))
def test_the_saga_stays_consistent_under_any_carrier_outage_and_timeouts(seed, start, duration, payment_timeout,
                                                                         carrier_timeout):
    r = run("saga", seed, orders=60, carrier_outages=[(start, duration)], payment_timeout=payment_timeout,
            carrier_timeout=carrier_timeout).report
    assert r.inconsistent == 0 and r.open == 0, r


def test_rollback_leaves_orders_charged_with_no_shipment_when_the_carrier_is_down():
    for seed in SEEDS:
        res = run("rollback", seed, payment_timeout=NEVER, carrier_timeout=NEVER)
        r = res.report
        assert r.charged_no_shipment > 0 and r.inconsistent == r.charged_no_shipment, (seed, r)
        t = res.trace
        for order in res.checks["inconsistent"].examples:
            rows = t[t.msg_id == order]
            # the database forgot the order; the provider still has the charge
            assert {"charged", "rolled_back"} <= set(rows.event) and "refunded" not in set(rows.event)
            assert "carrier: unavailable" in set(rows.detail)


def test_rollback_leaves_a_charge_that_landed_after_a_payment_timeout():
    found = 0
    for seed in SEEDS:
        res = run("rollback", seed, carrier_outages=(), carrier_timeout=NEVER)
        t = res.trace
        for order in res.checks["inconsistent"].examples:
            gave_up = t[(t.msg_id == order) & (t.event == "call_failed")].time.min()
            charged = t[(t.msg_id == order) & (t.event == "charged")].time.min()
            assert charged > gave_up  # the provider charged after the shop had rolled back
            found += 1
    assert found > 0


def test_without_failures_both_designs_complete_every_payable_order_consistently():
    for design in DESIGNS:
        r = run(design, 1, carrier_outages=(), payment_timeout=NEVER, carrier_timeout=NEVER).report
        assert r.inconsistent == 0 and r.open == 0
        assert r.completed == r.orders - r.declines


def test_declines_come_from_the_card_limit_and_are_the_same_orders_in_both_designs():
    a = run("rollback", 2).trace
    b = run("saga", 2).trace
    declined = set(a[a.event == "declined"].msg_id)
    assert declined and declined == set(b[b.event == "declined"].msg_id)
    amounts = a[a.event == "request"].set_index("msg_id").detail.str.split().str[1].astype(float)
    assert (amounts[list(declined)] > 100).all()  # only the low-limit cards (100) decline


def test_the_saga_contacts_every_declined_customer_and_the_rollback_contacts_none():
    for seed in SEEDS:
        saga, rollback = run("saga", seed).report, run("rollback", seed).report
        assert saga.declined_customer_contacted == saga.declines
        assert rollback.customers_contacted == 0 and rollback.declined_customer_contacted == 0


def test_every_timed_out_payment_is_reconciled_by_asking_the_provider():
    total = 0
    for seed in SEEDS:
        t = run("saga", seed).trace
        timed_out = set(t[t.event == "PaymentTimedOut"].msg_id)
        assert timed_out == set(t[t.event == "PaymentReconciled"].msg_id)
        total += len(timed_out)
    assert total > 0


def test_a_cancelled_order_is_refunded_and_has_no_live_label():
    res = run("saga", 1)
    t = res.trace
    states = order_states(t)
    cancelled = states.index[states.state == "cancelled"]
    assert len(cancelled) > 0
    for order in cancelled:
        ev = list(t[t.msg_id == order].event)
        assert ev.count("refunded") == ev.count("charged") == 1
        assert ev.count("label_created") == ev.count("label_voided")


def test_inconsistent_orders_reads_the_outside_worlds_rows():
    import pandas as pd

    rows = pd.DataFrame({
        "time": [0, 0, 1, 2, 3, 4, 5],
        "component": ["customer", "customer", "payment-provider", "orders", "payment-provider", "carrier",
                      "orders"],
        "event": ["request", "request", "charged", "rolled_back", "charged", "label_created", "OrderCompleted"],
        "msg_id": ["o1", "o2", "o1", "o1", "o2", "o2", "o2"],
    })
    found = inconsistent_orders(rows)
    assert found.count == 1 and found.examples == ("o1",)


@pytest.mark.parametrize("kwargs,param", [
    (dict(design="two_phase_commit"), "design"),
    (dict(design="saga", orders=0), "orders"),
    (dict(design="saga", arrival_rate=0), "arrival_rate"),
    (dict(design="saga", payment_timeout=-1), "payment_timeout"),
    (dict(design="saga", carrier_outages=[(1,)]), "carrier_outages"),
    (dict(design="saga", carrier_outages=[(-5, 10)]), "carrier_outages"),
    (dict(design="saga", carrier_outages=5), "carrier_outages"),
    (dict(design="saga", seed=1.5), "seed"),
    (dict(design="saga", payment_latency="fast"), "payment_latency"),
    (dict(design="saga", carrier_outages="ab"), "carrier_outages"),
    (dict(design="saga", carrier_outages=[(0, float("nan"))]), "carrier_outages"),
    (dict(design="saga", orders=100_001), "orders"),
    (dict(design="saga", reconcile_delay=1e-9), "reconcile_delay"),
    (dict(design="saga", retry_backoff=1e-9), "retry_backoff"),
    (dict(design="saga", max_time=float("inf")), "max_time"),
])
def test_bad_input_is_a_config_error(kwargs, param):
    with pytest.raises(sk.ConfigError, match=param):
        sk.scenarios.order_workflow(**kwargs)


def test_the_old_positional_seed_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match="seed="):
        old = sk.scenarios.order_workflow("saga", 2, orders=20)
    assert old.report == run("saga", 2, orders=20).report


def test_the_outside_services_live_in_one_module_and_the_old_import_paths_still_work():
    import simkit.dedupe
    import simkit.services

    assert sk.EmailProvider is simkit.dedupe.EmailProvider is simkit.services.EmailProvider
    assert {"Carrier", "EmailProvider", "PaymentProvider"} <= set(simkit.services.__all__)


def test_unknown_design_lists_the_known_ones():
    with pytest.raises(sk.ConfigError) as err:
        sk.scenarios.order_workflow("2pc")
    assert all(d in str(err.value) for d in DESIGNS)


def test_order_timeline_rings_the_charge_a_rollback_left_standing_and_nothing_in_the_saga():
    import matplotlib.pyplot as plt

    rollback, saga = run("rollback", 1), run("saga", 1)
    t = rollback.trace
    order = t[(t.event == "call_failed") & (t.detail == "carrier: unavailable")].msg_id.iloc[0]
    ax = sk.plots.order_timeline(rollback, order)
    assert ax.get_title() == f"rollback: {order} ended rolled back, yet the charge still stands"
    assert any("still standing" in text.get_text() for text in ax.get_legend().get_texts())
    ax = sk.plots.order_timeline(saga, order)
    assert ax.get_title() == f"saga: {order} ended cancelled; charge and label agree with it"
    assert not any("still standing" in text.get_text() for text in ax.get_legend().get_texts())
    with pytest.raises(sk.ConfigError, match="order"):
        sk.plots.order_timeline(saga, "no-such-order")
    plt.close("all")


def test_workflow_outcomes_title_states_the_inconsistent_orders_and_their_spread():
    import matplotlib.pyplot as plt

    df = sk.compare("order_workflow", list(DESIGNS), seeds=3, orders=80)
    bad = df.groupby("design")["inconsistent"]
    ax = sk.plots.workflow_outcomes(df)
    lo, hi = bad.min()["rollback"], bad.max()["rollback"]
    assert f"rollback {bad.mean()['rollback']:.3g} ({lo:.3g} to {hi:.3g})" in ax.get_title()
    assert "saga 0 (0 to 0)" in ax.get_title()
    plt.close("all")


def test_order_path_joins_the_shops_steps_in_order_and_a_charge_after_a_timeout_only_to_the_call_that_made_it():
    import pandas as pd

    rows = pd.DataFrame({
        "component": ["customer", "payment-provider", "payments", "orders", "payment-provider"],
        "event": ["request", "charged", "PaymentAuthorized", "call_failed", "charged"],
        "detail": ["amount 10", "amount 10", None, "payment provider: timeout", "amount 10"],
    })
    # request -> charge -> the step that waited for it; then a later call the shop gave up on
    assert sk.plots.order_path(rows) == [(0, 1, False), (1, 2, False), (2, 3, False), (2, 4, True)]


def test_order_timeline_draws_a_late_charge_dashed_and_never_joins_it_to_the_rollback():
    import matplotlib.pyplot as plt

    run = sk.scenarios.order_workflow("rollback", seed=1)
    t = run.trace
    charged = set(t[t.event == "charged"].msg_id)
    late = next(o for o in t[(t.event == "call_failed") & (t.component == "payments")].msg_id if o in charged)
    ax = sk.plots.order_timeline(run, late)
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--" and len(line.get_xdata()) == 2]
    rows = t[(t.msg_id == late) & t.component.isin(["customer", "orders", "payments", "payment-provider"])]
    charge_at = rows[rows.event == "charged"].time.iloc[0] / 1000
    assert len(dashed) == 1 and dashed[0].get_xdata()[1] == charge_at
    assert "answered after the shop gave up" in [text.get_text() for text in ax.get_legend().get_texts()]
    joined_from_charge = [line for line in ax.get_lines() if len(line.get_xdata()) == 2
                          and line.get_xdata()[0] == charge_at]
    assert joined_from_charge == []  # nobody was waiting for that answer
    plt.close("all")
