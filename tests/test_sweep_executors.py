"""Sweeps give the same rows with no executor, a process pool and a dask cluster; they show progress."""

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pandas as pd
import pytest

import simkit as sk


def _publish(executor=None, **kw):
    designs = sk.scenarios.SCENARIOS["publish"].designs
    return sk.compare("publish", designs, seeds=3, executor=executor, progress=False, **kw)


def _throughput(executor=None, **kw):
    return sk.sweep("throughput", {"arrival_rate": [0.5, 0.9]}, seeds=3, service_rate=1.0, messages=300,
                    executor=executor, progress=False, **kw)


def test_a_process_pool_gives_the_rows_a_plain_loop_gives_in_the_same_order():
    plain_c, plain_s = _publish(), _throughput()
    with ProcessPoolExecutor(2) as pool:
        pd.testing.assert_frame_equal(_publish(pool), plain_c)
        # throughput is a function outside the registry: it must run with keywords in a worker too
        pd.testing.assert_frame_equal(_throughput(pool), plain_s)
        pd.testing.assert_frame_equal(_throughput(pool, chunksize=1), plain_s)
    assert list(plain_s.seed) == [0, 1, 2, 0, 1, 2] and list(plain_s.arrival_rate) == [0.5] * 3 + [0.9] * 3


def test_a_dask_local_cluster_gives_the_rows_a_plain_loop_gives():
    distributed = pytest.importorskip("distributed")
    plain = _throughput()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pd.testing.assert_frame_equal(_throughput(client.get_executor()), plain)


def test_chunks_hold_about_four_per_worker_and_every_run_once():
    calls = []

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            calls.append(len(args[0]))
            return super().submit(fn, *args, **kwargs)

    with Counting(2) as pool:
        out = sk.sweep("throughput", {"arrival_rate": [0.5, 0.6, 0.7, 0.8]}, seeds=4, service_rate=1.0,
                       messages=100, executor=pool, progress=False)
    assert calls == [2] * 8 and len(out) == 16  # 16 runs, 2 workers x 4 chunks


def test_a_sweep_of_more_than_a_few_runs_shows_a_progress_bar_unless_told_not_to(capsys):
    sk.sweep("throughput", {"arrival_rate": [0.5, 0.9]}, seeds=4, service_rate=1.0, messages=50)
    assert "8/8" in capsys.readouterr().err
    sk.sweep("throughput", {"arrival_rate": [0.5, 0.9]}, seeds=4, service_rate=1.0, messages=50, progress=False)
    sk.sweep("throughput", {"arrival_rate": [0.5]}, seeds=2, service_rate=1.0, messages=50)  # only 2 runs
    assert capsys.readouterr().err == ""


def test_a_bad_chunksize_is_a_config_error():
    with pytest.raises(sk.ConfigError, match="chunksize"):
        _throughput(chunksize=0)
