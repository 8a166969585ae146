"""Lesson 08's figures say what the run did: overlapping lines share one legend entry, and retries that
outlast the run are named in the dead-letter figure's title."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import simkit as sk  # noqa: E402


def test_designs_whose_handled_lines_overlap_share_one_legend_entry():
    runs = {d: sk.scenarios.dead_letters(d, seed=0) for d in ["no_dlq", "skip", "dlq"]}
    ax = sk.plots.handled_over_time(runs)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "skip and dlq: handled (the lines overlap)" in labels
    assert "no_dlq: handled" in labels and "skip: handled" not in labels and "dlq: handled" not in labels
    plt.close("all")


def test_retries_that_outlast_the_run_are_named_in_the_dead_letter_title():
    long = sk.scenarios.dead_letters("dlq", poison=3, handler_retries=5, backoff=300, seed=0, messages=200)
    assert long.report.dead_lettered == 0 and not long.report.drained
    title = sk.plots.dlq_depth(long).get_title()
    assert "the retries outlast the run" in title and "still retrying" in title
    due = float(title.rsplit("due at ", 1)[1].split(" s")[0])
    assert due * 1000 > long.report.duration
    short = sk.scenarios.dead_letters("dlq", poison=3, handler_retries=3, backoff=20, seed=0, messages=200)
    assert short.report.dead_lettered > 0
    assert "outlast" not in sk.plots.dlq_depth(short).get_title()
    plt.close("all")


def test_dlq_depth_says_a_design_without_a_dead_letter_topic_parks_nothing():
    for design in ("no_dlq", "skip"):
        r = sk.scenarios.dead_letters(design, poison=3, seed=1, messages=60)
        ax = sk.plots.dlq_depth(r)
        assert ax.get_title() == f"{design} parks nothing: no dead-letter topic", ax.get_title()
        assert f"{design} (has no dead-letter topic: 0)" in [t.get_text() for t in ax.get_legend().get_texts()]
    parked = sk.scenarios.dead_letters("dlq", poison=3, seed=1, messages=60)
    assert "dead-letter topic" not in sk.plots.dlq_depth(parked).get_title()
    plt.close("all")
