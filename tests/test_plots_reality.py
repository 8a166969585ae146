"""sk.plots.engine_spread: lesson 13's simkit-against-live figure, one mark per run."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import simkit as sk  # noqa: E402


def _table():
    return pd.DataFrame({"design": ["auto"] * 4 + ["after_processing"] * 4,
                         "engine": ["simkit", "simkit", "live", "live"] * 2,
                         "lost_per_crash": [3.0, 4.0, 2.5, 5.0, 0.0, 0.0, 0.0, float("nan")]})


def test_each_run_is_one_mark_beside_its_designs_tick_with_the_engine_told_by_its_shape():
    ax = sk.plots.engine_spread(_table(), "lost_per_crash")
    points = [c.get_offsets() for c in ax.collections]
    assert sum(len(p) for p in points) == 7  # the run without a value draws no mark
    xs = sorted(float(x) for p in points for x, _ in p)
    assert xs[:2] == [-0.12, -0.12] and xs[-1] == 1.12  # simkit left of each tick, live right of it
    assert [t.get_text() for t in ax.get_xticklabels()] == ["auto", "after_processing"]
    legend = {t.get_text(): h for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)}
    assert set(legend) == {"simkit", "live (in the design's colour)"}
    assert legend["simkit"].get_marker() == "o" and legend["live (in the design's colour)"].get_marker() == "^"
    assert ax.get_ylabel() == "lost per crash"
    plt.close(ax.figure)


def test_a_count_gets_whole_ticks_from_zero_even_when_every_run_is_at_zero():
    table = pd.DataFrame({"design": ["dual_write"] * 4, "engine": ["simkit", "simkit", "live", "live"],
                          "ghosts": [0, 0, 0, 0], "crashes": [1, 4, 2, 4]})
    for field, top in (("ghosts", 1), ("crashes", 4)):
        ax = sk.plots.engine_spread(table, field)
        lo, hi = ax.get_ylim()
        ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
        assert all(float(t).is_integer() for t in ticks) and 0 in ticks and top in ticks, (field, ticks)
        plt.close(ax.figure)
    ax = sk.plots.engine_spread(_table(), "lost_per_crash")  # a rate per crash keeps its fractional ticks
    assert ax.get_ylim()[0] > -0.5
    plt.close(ax.figure)
