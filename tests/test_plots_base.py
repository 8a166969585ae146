"""The shapes every lesson's plots build on: titles state the finding in units a reader can take in."""

import matplotlib.pyplot as plt
import numpy as np

import simkit as sk


def test_latency_cdf_title_gives_each_p99_in_ms_or_seconds_never_in_exponent_notation():
    slow = np.linspace(0, 2400, 1001)  # p99 = 2376 ms
    fast = np.linspace(0, 10, 1001)  # p99 = 9.9 ms
    fig, ax = plt.subplots()
    sk.plots.latency_cdf({"broker": slow, "rpc": fast}, ax=ax)
    title = ax.get_title()
    plt.close(fig)
    assert title == "p99 latency, rpc: 9.9 ms; broker: 2.38 s"
    assert "e+" not in title


def test_latency_cdf_of_one_design_says_what_99_percent_finish_within():
    fig, ax = plt.subplots()
    sk.plots.latency_cdf({"rpc": np.linspace(0, 500, 1001)}, ax=ax)
    assert ax.get_title() == "99% of requests finish within rpc: 495 ms"
    assert ax.get_xlabel() == "latency (ms)"
    plt.close(fig)


def test_windows_between_pairs_down_and_up_rows_and_closes_an_open_window_only_when_asked():
    import pandas as pd

    trace = pd.DataFrame({
        "time": [10.0, 20.0, 30.0, 35.0, 50.0],
        "event": ["broker_down", "broker_up", "link_down", "broker_down", "link_up"],
        "component": ["broker", "broker", "broker->producer", "broker", "broker->producer"],
    })
    assert sk.plots._base.windows_between(trace, "broker_down", "broker_up") == [(10.0, 20.0)]
    assert sk.plots._base.windows_between(trace, "broker_down", "broker_up", end=60.0) == [(10.0, 20.0), (35.0, 60.0)]
    assert sk.plots._base.windows_between(trace, "link_down", "link_up", component="->producer") == [(30.0, 50.0)]
    assert sk.plots._base.windows_between(trace, "link_down", "link_up", component="->consumer") == []
