"""simkit.live.publish: the three publishing designs on a real database and producer, with real crashes."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile

import pytest

import simkit as sk
from simkit.live import publish

pytestmark = pytest.mark.live

RUN = dict(messages=80, crash_rate=0.15, seed=2)


def crashed_at(result, point):
    rows = result.trace[(result.trace["event"] == "crash") & (result.trace["detail"] == point)]
    return set(rows["msg_id"])


def committed_not_appended(result):
    trace = result.trace
    return set(trace.loc[trace["event"] == "db_commit", "msg_id"]) - set(trace.loc[trace["event"] == "append", "msg_id"])


def test_dual_write_loses_exactly_the_events_whose_crash_struck_between_commit_and_publish():
    result = publish("dual_write", **RUN)
    struck = crashed_at(result, "between_commit_and_publish")
    assert struck, "this seed should crash the service between commit and publish at least once"
    assert result.report.lost == len(struck)
    assert committed_not_appended(result) == struck
    assert result.report.ghosts == 0


def test_publish_then_commit_makes_a_ghost_for_each_crash_between_publish_and_commit():
    result = publish("publish_then_commit", **RUN)
    struck = crashed_at(result, "between_publish_and_commit")
    assert struck
    assert result.report.ghosts == len(struck)
    assert result.report.lost == 0


def test_outbox_loses_nothing_and_a_relay_crash_after_publish_repeats_the_event():
    result = publish("outbox", relay_crash_rate=0.1, **RUN)
    r = result.report
    assert r.crashes >= 1 and r.relay_crashes >= 1
    assert r.lost == 0 and r.ghosts == 0 and r.pending == 0
    assert r.published == r.committed
    # only a crash after the publish and before the mark publishes a row twice
    assert r.duplicate_publishes <= r.relay_crashes_after_publish
    assert result.trace[result.trace["event"] == "outbox_marked"]["msg_id"].nunique() == r.committed


def test_report_names_where_each_service_crash_struck():
    result = publish("dual_write", messages=30, crash_rate=0.3, seed=4)
    r = result.report
    assert r.crashes == r.crashes_before_commit + r.crashes_between_commit_and_publish + r.crashes_after_publish
    assert r.failed == r.crashes  # each crash answers its request with an error
    assert r.requests == 30


def test_sigkills_of_the_service_are_counted_and_answered_with_errors():
    result = publish("outbox", messages=300, crash_rate=0.0, kill_rate=2.0, seed=1)
    assert result.report.crashes_time >= 1
    assert result.report.lost == 0


@pytest.mark.parametrize("param, value", [("design", "triple_write"), ("crash_rate", -0.1), ("database", ""),
                                          ("messages", 10**9)])
def test_bad_parameters_raise_config_error_naming_them(param, value):
    kwargs = {"design": "outbox", param: value}
    with pytest.raises(sk.ConfigError) as info:
        publish(kwargs.pop("design"), **kwargs)
    assert info.value.param == param


# -- PostgreSQL, when a server can be started from the distribution's package ------------------------
def _initdb():
    return shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)


@pytest.fixture(scope="module")
def postgres_dsn():
    initdb = _initdb()
    if initdb is None:
        pytest.skip("no PostgreSQL server binaries (apt-get install -y postgresql)")
    bindir = os.path.dirname(os.path.realpath(initdb))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = tempfile.mkdtemp(prefix="simkit-pg-")
    if as_user:
        shutil.chown(folder, "postgres")
    data = os.path.join(folder, "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctl = as_user + [os.path.join(bindir, "pg_ctl"), "-D", data]
    try:
        subprocess.run(as_user + [os.path.join(bindir, "initdb"), "-D", data, "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run(ctl + ["-w", "-l", os.path.join(folder, "log"), "-o",
                              f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {exc}")
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    subprocess.run(ctl + ["-m", "immediate", "stop"], capture_output=True, timeout=60)
    shutil.rmtree(folder, ignore_errors=True)


def test_outbox_on_postgresql_with_skip_locked_loses_nothing_and_drops_its_tables(postgres_dsn):
    import psycopg

    result = publish("outbox", relay_crash_rate=0.1, database=postgres_dsn, **RUN)
    assert result.params["database"] == "postgresql"
    assert result.report.lost == 0 and result.report.pending == 0 and result.report.committed > 0
    with psycopg.connect(postgres_dsn) as conn:
        left = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'simkit_%'").fetchone()[0]
    assert left == 0


def test_dual_write_on_postgresql_loses_the_events_of_crashes_between_commit_and_publish(postgres_dsn):
    result = publish("dual_write", database=postgres_dsn, **RUN)
    struck = crashed_at(result, "between_commit_and_publish")
    assert struck and committed_not_appended(result) == struck
    assert result.report.lost == len(struck)


def test_a_finished_run_leaves_no_child_process_and_no_files(tmp_path, monkeypatch):
    import psutil

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = {p.pid for p in psutil.Process().children(recursive=True)}  # other tests' processes on this worker
    result = publish("outbox", messages=20, crash_rate=0.2, relay_crash_rate=0.2, seed=3)
    assert result.report.crashes + result.report.relay_crashes >= 1
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    # a child that exited but was never waited for (a zombie) is left behind too: its command line is gone,
    # so it counts whatever it was
    labs = [p for p in left if p.status() == psutil.STATUS_ZOMBIE or "_child.py" in " ".join(p.cmdline())]
    assert labs == []
    assert list(tmp_path.iterdir()) == []
