"""Lesson 12's control: the lag panel says whether the lag keeps returning to zero while the producer sends."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import simkit as sk  # noqa: E402


def _lag_title(rate):
    r = sk.scenarios.throughput("round_robin", arrival_rate=rate, service_rate=1.0, partitions=2, consumers=2,
                                messages=round(rate * 500), seed=1)
    axes = sk.plots.load_panels(r)
    stops = [line for line in axes[0].lines if line.get_label() == "producer stops"]
    sent = r.trace[r.trace.event == "send"].time.max()
    title = axes[0].get_title()
    plt.close("all")
    return title, stops, sent


def test_under_capacity_the_lag_keeps_coming_back_to_zero_while_the_producer_sends():
    title, stops, sent = _lag_title(1.0)
    assert "keeps coming back to 0 while the producer sends" in title
    assert len(stops) == 1 and stops[0].get_xdata()[0] == sent


def test_over_capacity_the_lag_title_says_it_never_returns_and_counts_the_backlog_at_the_stop():
    title, _, _ = _lag_title(3.0)
    assert "never back to 0" in title
    waiting = int(title.rsplit(": ", 1)[1].split(" waiting")[0])
    assert waiting > 100  # 1.5 records/ms per partition against 1 handled: about 250 behind after 500 ms


def _covered(ax):
    """How many of the axes' drawn points (lines and dots) fall inside its legend's box or within 4 pixels of it."""
    import numpy as np

    renderer = ax.figure.canvas.get_renderer()
    box = ax.get_legend().get_window_extent(renderer).padded(4)
    points = [line.get_transform().transform(line.get_xydata()) for line in ax.lines]  # the p99 and the stop too
    points += [ax.transData.transform(c.get_offsets()) for c in ax.collections]
    xy = np.vstack([p for p in points if len(p)])
    return int(((xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)).sum())


def test_neither_legend_covers_a_lag_line_or_a_latency_dot():
    for partitions, consumers, messages in ((2, 2, 2_000), (6, 3, 900)):  # lesson 12's run; the longest legend
        r = sk.scenarios.throughput("round_robin", arrival_rate=1.8, service_rate=1.0, partitions=partitions,
                                    consumers=consumers, messages=messages, seed=1,
                                    commit="after_processing")
        left, right = sk.plots.load_panels(r)
        assert len(left.get_legend().get_texts()) == partitions + 1
        assert _covered(left) == 0 and _covered(right) == 0, (partitions, _covered(left), _covered(right))
        plt.close("all")


def test_a_lag_of_one_record_is_counted_in_whole_records():
    r = sk.scenarios.throughput("round_robin", arrival_rate=0.2, service_rate=1.0, partitions=6, consumers=1,
                                messages=100, seed=20)  # lesson 12's control at its lowest rate
    left, _ = sk.plots.load_panels(r)
    assert left.get_title().startswith("lag peaks at 1 record (partition")
    ticks = [t for t in left.get_yticks() if 0 <= t <= left.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close("all")
