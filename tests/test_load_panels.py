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
