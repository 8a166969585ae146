"""The benchmark script keeps working (its numbers are read by people, not asserted here)."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "throughput.py"


def test_throughput_benchmark_runs_and_both_models_agree():
    spec = importlib.util.spec_from_file_location("bench_throughput", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(["--quick"])
    assert out["simkit_msgs_per_s"] > 0 and out["bare_simpy_msgs_per_s"] > 0 and out["peak_memory_mib"] > 0
    # the same queue: both mean latencies near 1 / (mu - lambda) = 2 ms
    assert abs(out["bare_mean_latency_ms"] - 2.0) < 0.5 and abs(out["simkit_mean_latency_ms"] - 2.0) < 0.5
