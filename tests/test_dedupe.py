"""Idempotent consumers: the dedupe table, the email provider and the strategies that use them."""

import matplotlib.pyplot as plt
import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk
from simkit.dedupe import table_size
from simkit.scenarios.dedupe import CRASH_POINTS, DESIGNS

SEEDS = range(4)


def run(design, seed=0, **params):
    return sk.scenarios.dedupe(design, seed=seed, **params)


# -- the building blocks ------------------------------------------------------------------

def test_a_dedupe_row_is_invisible_until_its_transaction_commits_and_expires_after_the_ttl():
    w = sk.World(1)
    db = sk.Database(w, commit_latency=2)
    table = sk.DedupeTable(w, db, "app.processed", ttl=1000, cleanup_interval=250)
    seen = {}

    def consumer():
        tx = db.transaction("app", msg_id="m1")
        table.add(tx, "m1")
        seen["before commit"] = yield from table.contains("m1")
        seen["in its tx"] = table.seen(tx, "m1")
        yield from tx.commit()
        seen["after commit"] = yield from table.contains("m1")
        yield w.env.timeout(900)
        seen["before ttl"] = yield from table.contains("m1")
        yield w.env.timeout(500)
        seen["after ttl"] = yield from table.contains("m1")

    w.env.process(consumer())
    w.run(until=3000)
    assert seen == {"before commit": False, "in its tx": True, "after commit": True, "before ttl": True,
                    "after ttl": False}
    t = w.trace.to_frame()
    expired = t[t.event == "dedupe_expired"]
    assert list(expired.msg_id) == ["m1"] and 1000 <= expired.time.iloc[0] <= 1000 + 250 + 2


def test_table_size_from_the_trace_matches_the_monitor():
    res = run("dedupe_table", 2)
    rebuilt = table_size(res.trace, "welcome.processed")
    sampled = res.series["dedupe_table_size"]
    assert rebuilt["size"].max() == res.report.dedupe_table_size_max
    at = rebuilt.set_index("time")["size"]
    for time, size in zip(sampled["time"], sampled["dedupe_table_size"]):
        before = at[at.index <= time]
        assert size == (before.iloc[-1] if len(before) else 0)


def _emails(accepts, keys, key_ttl=None, latency=5):
    w = sk.World(1)
    provider = sk.EmailProvider(w, latency=latency, accepts_idempotency_key=accepts, key_ttl=key_ttl)
    answers = []

    def client():
        for key in keys:
            start = w.now
            answer = yield from provider.send("ada@example.com", "Welcome!", idempotency_key=key, msg_id=7)
            answers.append((answer, w.now - start))
            yield w.env.timeout(100)

    w.env.process(client())
    w.run(until=10_000)
    t = w.trace.to_frame()
    return answers, int((t.event == "email_sent").sum()), int((t.event == "email_ignored").sum())


def test_an_email_provider_with_idempotency_keys_sends_once_per_key():
    answers, sent, ignored = _emails(True, ["k1", "k1", "k1"])
    assert (sent, ignored) == (1, 2)
    assert [a for a, _ in answers] == ["sent", "ignored", "ignored"]
    assert all(took == pytest.approx(10) for _, took in answers)  # one round trip of 5 ms each way


def test_an_email_provider_without_idempotency_keys_sends_every_time():
    _, sent, ignored = _emails(False, ["k1", "k1", "k1"])
    assert (sent, ignored) == (3, 0)
    _, sent, _ = _emails(True, [None, None])
    assert sent == 2


def test_the_provider_forgets_a_key_after_its_ttl():
    _, sent, ignored = _emails(True, ["k1", "k1", "k1"], key_ttl=150)
    assert (sent, ignored) == (2, 1)


# -- the strategies -----------------------------------------------------------------------

def test_no_dedupe_applies_side_effects_twice_after_crashes():
    runs = [run("none", s).report for s in SEEDS]
    assert all(r.lost == 0 for r in runs)
    assert sum(r.duplicates for r in runs) > 0
    assert sum(r.duplicate_emails for r in runs) > 0


def test_each_repeated_effect_of_the_naive_consumer_comes_from_one_crash_after_that_effect():
    for seed in SEEDS:
        t = run("none", seed).trace
        crashes = t[t.event == "crash"].detail.value_counts()
        at = {p: int(crashes.get(p, 0)) for p in CRASH_POINTS}

        def extra(event):
            rows = t[t.event == event]
            return len(rows) - rows.msg_id.nunique()

        assert extra("counter_incremented") == at["after_effect_tx"] + at["after_process"], seed
        assert extra("email_sent") == at["after_email"] + at["after_effect_tx"] + at["after_process"], seed


def test_natural_idempotence_repeats_harmlessly_but_still_emails_twice():
    runs = [run("natural", s).report for s in SEEDS]
    assert all(r.duplicates == 0 for r in runs)
    assert sum(r.repeated_sets for r in runs) > 0
    assert sum(r.duplicate_emails for r in runs) > 0


@pytest.mark.parametrize("design", ["dedupe_table", "business_check"])
def test_same_transaction_designs_never_apply_the_counter_twice(design):
    runs = [run(design, seed).report for seed in SEEDS]
    assert all((r.duplicates, r.lost) == (0, 0) for r in runs)
    assert sum(r.skipped for r in runs) > 0  # redeliveries happened and were recognised


@given(st.lists(st.tuples(st.integers(0, 45), st.sampled_from(CRASH_POINTS)), max_size=8))
def test_a_dedupe_table_in_the_same_transaction_gives_no_duplicate_under_any_crash_schedule(schedule):
    r = run("dedupe_table", 0, crash_rate=0.0, messages=30, crash_schedule=schedule).report
    assert (r.duplicates, r.lost) == (0, 0)
    # with the provider honouring the key, not even the email repeats
    r = run("dedupe_table", 0, crash_rate=0.0, messages=30, crash_schedule=schedule,
            email_idempotency_key=True).report
    assert (r.duplicates, r.duplicate_emails, r.emails_sent, r.lost) == (0, 0, 30, 0)


def test_a_crash_between_the_two_transactions_lets_a_duplicate_through():
    res = run("dedupe_table_separate_tx", 0, crash_rate=0.0, crash_schedule=[(5, "after_effect_tx")])
    assert res.report.duplicates == 1 and res.checks["duplicates"].examples == (5,)
    same = run("dedupe_table", 0, crash_rate=0.0, crash_schedule=[(5, "after_effect_tx")])
    assert same.report.duplicates == 0 and same.report.skipped == 1


def test_a_crash_after_the_email_repeats_the_email_unless_the_provider_takes_a_key():
    res = run("dedupe_table", 0, crash_rate=0.0, crash_schedule=[(5, "after_email")])
    assert res.report.duplicate_emails == 1 and res.checks["duplicate_emails"].examples == (5,)
    keyed = run("dedupe_table", 0, crash_rate=0.0, crash_schedule=[(5, "after_email")],
                email_idempotency_key=True)
    assert (keyed.report.duplicate_emails, keyed.report.emails_ignored) == (0, 1)


def test_a_redelivery_later_than_the_ttl_slips_through_the_dedupe_table():
    res = run("dedupe_table", 1, crash_rate=0.0, ttl=2000, cleanup_interval=500, redeliver_after=4000)
    republished = int((res.trace.event == "republish").sum())
    assert republished > 0
    assert res.report.duplicates == republished and res.report.skipped == 0
    # the business state has no TTL: the same late copies are recognised
    checked = run("business_check", 1, crash_rate=0.0, ttl=2000, cleanup_interval=500, redeliver_after=4000)
    assert checked.report.duplicates == 0 and checked.report.skipped == republished


def test_a_redelivery_earlier_than_the_ttl_is_caught():
    res = run("dedupe_table", 1, crash_rate=0.0, ttl=2000, cleanup_interval=500, redeliver_after=1000)
    republished = int((res.trace.event == "republish").sum())
    assert republished > 0
    assert res.report.duplicates == 0 and res.report.skipped == republished


def test_the_ttl_bounds_the_dedupe_table_and_without_one_it_holds_every_id():
    bounded = run("dedupe_table", 0, crash_rate=0.0, ttl=1000, cleanup_interval=250).report
    kept = run("dedupe_table", 0, crash_rate=0.0, ttl=None).report
    assert kept.dedupe_table_size_max == kept.dedupe_table_size_final == 200 and kept.expired == 0
    # about ttl / mean arrival interval ids live at once (25 ms between sign-ups)
    assert bounded.dedupe_table_size_max < 100 and bounded.expired > 100


def test_an_idempotency_key_removes_every_duplicate_email_even_without_any_other_guard():
    r = run("none", 0, email_idempotency_key=True).report
    assert r.duplicate_emails == 0 and r.emails_sent == 200 and r.emails_ignored > 0


def test_one_seed_one_history():
    assert run("dedupe_table_separate_tx", 5).report == run("dedupe_table_separate_tx", 5).report


def test_unknown_design_lists_the_known_ones():
    with pytest.raises(sk.ConfigError) as err:
        sk.scenarios.dedupe("exactly_once")
    for design in DESIGNS:
        assert design in str(err.value)


@pytest.mark.parametrize("param,value", [
    ("crash_rate", -0.1), ("messages", 0), ("ttl", 0), ("cleanup_interval", -5), ("redeliver_after", 0),
    ("redeliver_share", 2), ("email_idempotency_key", "yes"), ("crash_schedule", [(1, "somewhere")]),
])
def test_bad_parameters_are_config_errors(param, value):
    with pytest.raises(sk.ConfigError, match=param):
        sk.scenarios.dedupe("dedupe_table", **{param: value})


def test_a_run_stopped_before_anything_was_processed_reports_zeros_not_a_pandas_error():
    for design in DESIGNS:
        r = run(design, 0, max_time=1e-3).report
        assert (r.processed, r.dedupe_table_size_max, r.drained) == (0, 0, 0), design


def test_a_cleanup_too_fine_for_the_run_or_a_run_too_long_is_a_config_error_not_a_hang():
    with pytest.raises(sk.ConfigError, match="cleanup_interval"):
        sk.scenarios.dedupe("dedupe_table", cleanup_interval=1e-9)
    with pytest.raises(sk.ConfigError, match="max_time"):
        sk.scenarios.dedupe("dedupe_table", max_time=1e12)


def test_the_old_strategy_keyword_positional_order_and_field_names_still_work_and_warn():
    new = run("dedupe_table_separate_tx", 3, crash_rate=0.1, messages=50).report
    with pytest.warns(DeprecationWarning, match="design="):
        by_keyword = sk.scenarios.dedupe(strategy="dedupe_table_separate_tx", crash_rate=0.1, messages=50, seed=3)
    with pytest.warns(DeprecationWarning, match="crash_rate="):
        positional = sk.scenarios.dedupe("dedupe_table_separate_tx", 0.1, 50, 3)
    assert by_keyword.report == new == positional.report
    with pytest.warns(DeprecationWarning, match="dedupe_table_size_max"):
        assert new.dedupe_table_max_size == new.dedupe_table_size_max > 0
    with pytest.warns(DeprecationWarning, match="design"):
        old = sk.sweep("dedupe", {"strategy": ["none"]}, seeds=1, messages=20)
    assert list(old.design) == ["none"]


def test_bad_building_block_parameters_are_config_errors():
    w = sk.World(0)
    db = sk.Database(w)
    with pytest.raises(sk.ConfigError, match="ttl"):
        sk.DedupeTable(w, db, "a.b", ttl=-1)
    with pytest.raises(sk.ConfigError, match="accepts_idempotency_key"):
        sk.EmailProvider(w, accepts_idempotency_key="sometimes")


def test_dedupe_table_plot_states_the_bound():
    runs = {"ttl 1 s": run("dedupe_table", 0, ttl=1000), "no ttl": run("dedupe_table", 0, ttl=None)}
    ax = sk.plots.dedupe_table_size(runs)
    assert "TTL" in ax.get_title() and "no ttl" in ax.get_title()
    ax = sk.plots.anomaly_timeline(run("dedupe_table_separate_tx", 0, crash_rate=0.0,
                                       crash_schedule=[(5, "after_effect_tx")]), "duplicates")
    assert "5" in ax.get_title() and "twice" in ax.get_title()
    plt.close("all")


def test_late_copies_plot_shows_the_ttl_and_which_design_leaks():
    df = sk.sweep("dedupe", {"design": ["dedupe_table", "business_check"], "redeliver_after": [1000, 3000]},
                  seeds=2, crash_rate=0.0, messages=60, ttl=2000, cleanup_interval=500)
    leaks = df.groupby(["design", "redeliver_after"])["duplicates"].max()
    assert leaks["dedupe_table", 1000] == 0 and leaks["dedupe_table", 3000] > 0
    assert leaks["business_check"].max() == 0
    ax = sk.plots.late_copies(df)
    assert "dedupe_table up to" in ax.get_title() and "business_check: none" in ax.get_title()
    labels = ax.get_legend_handles_labels()[1]
    assert "TTL 2 s" in labels and any("cleanup" in label for label in labels)
    assert "(s)" in ax.get_xlabel()
    plt.close("all")
