"""The benchmark script keeps working (its numbers are read by people, not asserted here)."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
BENCH = BENCHMARKS / "throughput.py"


def _load(path):
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_throughput_benchmark_runs_every_model_on_the_same_queue():
    out = _load(BENCH).main(["--quick"])
    assert set(out) == {"simkit", "simkit_sim", "simpy", "simpy_idle_wakeup", "ciw", "salabim"}
    assert out["simpy"]["ratio_to_simpy"] == 1.0
    for name, row in out.items():
        assert row["msgs_per_s"] > 0, name
        # one M/M/1 queue at rho = 0.9: a short run's mean sojourn lands near 1 / (mu - lambda) = 10 ms
        assert 2 < row["mean_latency_ms"] < 40, name
        assert name == "simkit_sim" or row["peak_memory_mib"] > 0


def test_scaling_benchmark_gives_a_cost_per_message_for_every_size_and_partition_count():
    out = _load(BENCHMARKS / "scaling.py").main(["--quick"])
    assert [r["messages"] for r in out["messages"]] == [500, 2_000]
    assert [r["partitions"] for r in out["partitions"]] == [1, 4]
    assert [r["partitions"] for r in out["loaded_partitions"]] == [1, 4]
    assert all(r["us_per_message"] > 0 for r in out["messages"] + out["partitions"] + out["loaded_partitions"])
    assert out["partitions"][0]["x_one_partition"] == 1.0


@pytest.mark.notebook
def test_notebook_benchmark_times_every_control(tmp_path):
    """A notebook with two controls: each is moved five times, each time somewhere new, and timed; a dropdown counts."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nimport simkit as sk\n"
        "def explore(rate=0.5, design='a'):\n"
        "    run = sk.scenarios.throughput('round_robin', arrival_rate=rate, service_rate=1.0, messages=300, seed=1)\n"
        "    sk.plots.lag_over_time(run)\n    plt.show()\n"
        "sk.interact(explore, rate=(0.1, 0.9, 0.1), design=['a', 'b'])")]
    path = tmp_path / "00-tiny.ipynb"
    nbformat.write(nb, path)
    row = _load(BENCHMARKS / "notebooks.py").run(path)
    assert row["notebook"] == "00-tiny.ipynb"
    assert row["controls"] == 2
    assert 0 < row["redraw_median_s"] <= row["redraw_max_s"] < 30
    assert 0 < row["run_seconds"] < 120
    assert row["baseline_figure_s"] > 0 and row["redraw_max_x_baseline"] > 0
    rate, design = row["redraws"]
    # the slider walks up from 0.5 to its maximum, then down from where it started; the menu goes over and back
    assert [round(float(v), 6) for v in rate["positions"]] == [0.6, 0.7, 0.8, 0.9, 0.4]
    assert design["positions"] == ["'b'", "'a'", "'b'", "'a'", "'b'"]
    for r in (rate, design):
        assert len(r["moves_s"]) == 5 and all(t > 0 for t in r["moves_s"])
        assert sorted(r["moves_s"])[2] == pytest.approx(r["median_s"], abs=0.001)


def test_sweep_benchmark_times_a_pool_against_a_loop_with_identical_rows():
    out = _load(BENCHMARKS / "sweep.py").main(["--quick"])
    assert out["identical"]["rows"] == 1.0
    assert all(out[name]["speedup"] > 0 for name in ("publish, 3 designs", "throughput", "cpu ceiling"))
