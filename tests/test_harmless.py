"""A working fix draws its evidence: the faults that struck, marked harmless, and the zero stated."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import simkit as sk  # noqa: E402


def _marked(ax, label):
    """The number of points drawn under legend ``label``."""
    return sum(len(c.get_offsets()) for c in ax.collections if c.get_label() == label)


def test_a_dedupe_run_without_duplicate_emails_draws_every_crash_and_redelivery_and_states_the_zero():
    r = sk.scenarios.dedupe("dedupe_table", crash_rate=0.05, email_idempotency_key=True, messages=150, seed=0)
    assert r.report.duplicate_emails == 0 and r.report.crashes > 0 and r.report.redelivered > 0
    ax = sk.plots.anomaly_timeline(r, "duplicate_emails")
    title = ax.get_title()
    assert title.startswith("duplicate_emails = 0 in this run:")
    assert f"{r.report.crashes} crashes" in title and "harmless" in title
    assert ax.axison and _marked(ax, "crash") == r.report.crashes
    assert _marked(ax, "delivered again: absorbed") == r.checks["redelivered"].count
    assert _marked(ax, "repeat recognised and skipped") == r.report.skipped + r.report.emails_ignored
    plt.close("all")


def test_a_keyed_idempotent_ordering_run_draws_its_retries_and_elections_instead_of_an_empty_axes():
    r = sk.scenarios.ordering("key", partitions=3, consumers=3, seed=1, users=60, idempotent=True)
    assert r.report.stale_writes == 0 and r.report.retries > 0
    ax = sk.plots.inversion_timeline(r)
    title = ax.get_title()
    assert title.startswith("stale_writes = 0 in this run:")
    assert f"{r.report.elections} leader elections" in title and f"{r.report.retries} producer retries" in title
    assert _marked(ax, "producer retries a batch") == r.report.retries
    labels = ax.get_legend_handles_labels()[1]
    assert "leader election: writes refused" in labels
    plt.close("all")


def test_a_run_that_nothing_struck_says_so_and_still_draws_its_messages():
    r = sk.scenarios.consume("after_processing", crash_rate=0.0, messages=20, seed=0)
    ax = sk.plots.anomaly_timeline(r, "lost")
    assert "nothing struck it" in ax.get_title() and ax.axison
    assert _marked(ax, "processed") == 20
    plt.close("all")


def test_strikes_counts_second_deliveries_only():
    r = sk.scenarios.dedupe("dedupe_table", crash_rate=0.05, messages=150, seed=0)
    found = sk.plots.strikes(r.trace)
    assert len(found["redeliveries"]) == r.report.redelivered
    assert len(found["crashes"]) == r.report.crashes
