"""sk.scenarios.exactly_once: transactions remove duplicates from the read_committed output, not from the email."""

import pytest

import simkit as sk
from simkit.trace import read_spans, spans
from simkit.glossary import unknown
from simkit.scenarios.exactly_once import FIELDS, aborted_offsets, aborted_reads

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def runs():
    return {(d, iso, s): sk.scenarios.exactly_once(d, seed=s, isolation_level=iso)
            for d in ("at_least_once", "transactional") for iso in ("read_committed", "read_uncommitted")
            for s in SEEDS}


@pytest.mark.parametrize("seed", SEEDS)
def test_at_least_once_writes_and_reads_duplicate_invoices_after_crashes(runs, seed):
    r = runs[("at_least_once", "read_committed", seed)].report
    assert r.crashes > 5 and r.lost == 0 and r.drained == 1
    assert r.duplicates_in_output > 0
    assert r.output_records == r.output_read > r.produced, "every extra invoice written is read"
    assert r.aborted_read == 0 and r.committed_transactions == 0 == r.aborted_transactions


@pytest.mark.parametrize("seed", SEEDS)
def test_transactions_leave_no_duplicate_in_the_read_committed_output(runs, seed):
    r = runs[("transactional", "read_committed", seed)].report
    assert r.crashes > 5 and r.lost == 0 and r.drained == 1
    assert r.duplicates_in_output == 0 and r.aborted_read == 0
    assert r.output_read == r.produced, "one invoice read per order"
    assert r.aborted_transactions > 0 and r.output_records > r.output_read, "aborted invoices exist in the log"
    assert r.committed_transactions == r.produced


@pytest.mark.parametrize("seed", SEEDS)
def test_a_read_uncommitted_reader_sees_the_aborted_invoices(runs, seed):
    committed = runs[("transactional", "read_committed", seed)]
    uncommitted = runs[("transactional", "read_uncommitted", seed)].report
    assert uncommitted.aborted_read > 0 and uncommitted.duplicates_in_output > 0
    assert uncommitted.output_read == committed.report.output_records, "it reads every record written"
    assert uncommitted.aborted_read == len(aborted_offsets(committed.trace)), "one history, two readers"


@pytest.mark.parametrize("design", ("at_least_once", "transactional"))
@pytest.mark.parametrize("seed", SEEDS)
def test_the_email_is_repeated_under_both_designs(runs, design, seed):
    r = runs[(design, "read_committed", seed)].report
    assert r.repeated_side_effects > 0
    assert r.emails_sent > r.produced


def test_isolation_level_does_not_change_what_the_invoicer_does(runs):
    a = runs[("at_least_once", "read_committed", 0)].report
    b = runs[("at_least_once", "read_uncommitted", 0)].report
    assert (a.duplicates_in_output, a.output_records, a.repeated_side_effects) == \
        (b.duplicates_in_output, b.output_records, b.repeated_side_effects)


def test_a_crash_after_the_email_repeats_it_and_aborts_the_transaction():
    run = sk.scenarios.exactly_once("transactional", seed=0, crash_rate=0, crash_schedule=[(10, "after_email")],
                                    isolation_level="read_uncommitted")
    r, t = run.report, run.trace
    assert (r.crashes, r.aborted_transactions, r.repeated_side_effects, r.aborted_read) == (1, 1, 1, 1)
    order = run.checks["aborted_read"].examples[0]
    assert run.checks["repeated_side_effects"].examples == (order,)
    mine = t[(t.msg_id == order) & t.component.isin(["invoicer", "ledger", "email"])]
    assert mine.event.tolist().count("email_sent") == 2 and mine.event.tolist().count("processed") == 3


def test_a_crash_after_the_send_repeats_the_invoice_but_not_the_email():
    run = sk.scenarios.exactly_once("at_least_once", seed=0, crash_rate=0, crash_schedule=[(10, "after_send")])
    r = run.report
    assert (r.crashes, r.duplicates_in_output, r.repeated_side_effects) == (1, 1, 0)


def test_a_crash_after_the_transaction_committed_repeats_nothing():
    r = sk.scenarios.exactly_once("transactional", seed=0, crash_rate=0,
                                  crash_schedule=[(10, "after_process")]).report
    assert (r.crashes, r.aborted_transactions, r.repeated_side_effects, r.duplicates_in_output) == (1, 0, 0, 0)


def test_kills_at_random_instants_make_the_same_difference():
    a = sk.scenarios.exactly_once("at_least_once", seed=3, crash_rate=0, kill_rate=2).report
    t = sk.scenarios.exactly_once("transactional", seed=3, crash_rate=0, kill_rate=2).report
    assert a.crashes > 0 and t.crashes > 0
    assert a.duplicates_in_output > 0 and t.duplicates_in_output == 0
    assert a.lost == t.lost == 0


def test_without_crashes_both_designs_are_exact():
    for design in ("at_least_once", "transactional"):
        r = sk.scenarios.exactly_once(design, seed=0, crash_rate=0, messages=100).report
        assert (r.crashes, r.duplicates_in_output, r.repeated_side_effects, r.aborted_read) == (0, 0, 0, 0)
        assert r.output_read == r.emails_sent == 100


def test_abort_markers_name_the_records_they_void(runs):
    run = runs[("transactional", "read_uncommitted", 0)]
    t = run.trace
    void = aborted_offsets(t)
    appended = t[(t.event == "append") & (t.topic == "invoices")]
    assert void and void <= {(tp, int(p), int(o)) for tp, p, o in zip(appended.topic, appended.partition,
                                                                       appended.offset)}
    assert aborted_reads(t, "ledger").count == run.report.aborted_read
    assert spans([9, 3, 4, 5]) == "3-5,9" and read_spans("3-5,9") == [3, 4, 5, 9]


def test_the_trace_rows_tell_each_step():
    run = sk.scenarios.exactly_once("transactional", seed=0, crash_rate=0, crash_schedule=[(4, "after_send")],
                                    messages=30)
    t = run.trace
    assert set(t.event) <= set(sk.EVENTS)
    assert {"send", "append", "process", "processed", "email_sent", "txn_commit", "txn_abort", "commit", "crash",
            "restart"} <= set(t.event)
    commits = t[(t.event == "commit") & (t.component == "invoicer-0")]
    assert set(commits.detail) == {"invoicing"}, "the invoicer's offsets are committed by its transaction"
    assert not ((t.event == "commit") & (t.component == "invoicer")).any(), "the consumer commits nothing itself"
    assert "invoicer-producer-2" in set(t.component), "the restarted process has a producer of its own"


def test_the_scenario_is_on_the_contract():
    entry = sk.scenarios.SCENARIOS["exactly_once"]
    assert entry.designs == ("at_least_once", "transactional") and entry.lesson == "17"
    assert entry.fields == FIELDS and not unknown(FIELDS)
    for name in ("duplicates_in_output", "aborted_read", "repeated_side_effects"):
        assert name in FIELDS
    run = sk.scenarios.exactly_once("at_least_once", seed=2, messages=50)
    assert set(run.report) == set(FIELDS)


def test_one_seed_gives_one_history():
    a = sk.scenarios.exactly_once("transactional", seed=5, messages=150, kill_rate=1).trace
    b = sk.scenarios.exactly_once("transactional", seed=5, messages=150, kill_rate=1).trace
    c = sk.scenarios.exactly_once("transactional", seed=6, messages=150, kill_rate=1).trace
    assert a.equals(b) and not a.equals(c)


@pytest.mark.parametrize("kwargs, param", [
    ({"design": "exactly_once"}, "design"),
    ({"design": "transactional", "isolation_level": "serializable"}, "isolation_level"),
    ({"design": "transactional", "crash_rate": 1.5}, "crash_rate"),
    ({"design": "transactional", "kill_rate": -1}, "kill_rate"),
    ({"design": "transactional", "messages": 0}, "messages"),
    ({"design": "transactional", "partitions": 65}, "partitions"),
    ({"design": "transactional", "crash_schedule": [(3, "after_commit")]}, "crash_schedule"),
    ({"design": "transactional", "email_latency": "slow"}, "email_latency"),
    ({"design": "transactional", "transactional_id": "x"}, "transactional_id"),
    ({"design": "transactional", "client": "kafka-python"}, "client"),
])
def test_bad_parameters_raise_a_config_error_naming_them(kwargs, param):
    with pytest.raises(sk.ConfigError) as err:
        sk.scenarios.exactly_once(**kwargs)
    assert err.value.param == param
    assert param in str(err.value)


def test_with_librdkafka_s_defaults_transactions_still_leave_no_duplicate():
    a = sk.scenarios.exactly_once("at_least_once", seed=1, client="librdkafka").report
    t = sk.scenarios.exactly_once("transactional", seed=1, client="librdkafka").report
    assert a.duplicates_in_output > 0 and t.duplicates_in_output == 0 and t.repeated_side_effects > 0
    assert sk.scenarios.SCENARIOS["exactly_once"].defaults["client"] == "java"


def test_the_java_client_gives_the_trace_of_clients_left_unset(monkeypatch):
    import importlib

    mod = importlib.import_module("simkit.scenarios.exactly_once")  # the package's attribute is the function

    class Before(mod.Producer):
        def __init__(self, *args, client=None, **kw):
            super().__init__(*args, **kw)

    class BeforeConsumer(mod.Consumer):
        def __init__(self, *args, client=None, **kw):
            super().__init__(*args, **kw)

    java = sk.scenarios.exactly_once("transactional", seed=4, messages=120).trace
    monkeypatch.setattr(mod, "Producer", Before)
    monkeypatch.setattr(mod, "Consumer", BeforeConsumer)
    assert java.equals(sk.scenarios.exactly_once("transactional", seed=4, messages=120).trace)


def test_the_repeats_figure_shows_every_count_that_stays_at_zero():
    """Lines that all stay at zero are stacked widest first, so the last one drawn does not hide the others."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = sk.scenarios.exactly_once("transactional", seed=0, isolation_level="read_committed")
    ax = sk.plots.repeats_over_time(run)
    steps = {line.get_label(): line for line in ax.get_lines() if "(" in line.get_label()}
    zero = [line for label, line in steps.items() if label.endswith("(0)")]
    assert len(zero) >= 2, f"this run should leave at least two counts at zero: {list(steps)}"
    widths = [line.get_linewidth() for line in zero]
    assert widths == sorted(widths, reverse=True) and len(set(widths)) == len(widths), widths
    assert all(a.get_zorder() < b.get_zorder() for a, b in zip(zero, zero[1:]))  # the widest is underneath
    plt.close(ax.figure)


def test_the_repeats_figure_of_a_run_without_crashes_counts_whole_orders_and_keeps_its_zeros_clear():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = sk.scenarios.exactly_once("at_least_once", seed=0, crash_rate=0.0)  # lesson 17's control at 0
    assert run.report.crashes == 0
    ax = sk.plots.repeats_over_time(run)
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    ax.figure.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert ax.transData.transform((0, 0))[1] < legend.y0  # the zero lines run below the legend, not behind it
    plt.close(ax.figure)
