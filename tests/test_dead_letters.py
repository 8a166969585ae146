"""Poison messages and dead letters: one bad record must not stop a partition (lesson 08)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simkit as sk
from simkit.dlq import DLT_SUFFIX
from simkit.scenarios.dead_letters import DESIGNS, dead_letters, parse_cents

SEEDS = range(3)


def _poison_partitions(r):
    """Each partition holding a poison record -> the lowest poison offset in it (from the trace)."""
    t = r.trace
    app = t[(t.event == "append") & (t.topic == "payments") & t.msg_id.isin(r.params["poison"])]
    return app.groupby("partition")["offset"].min().to_dict()


# -- the scenario ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_a_poison_message_blocks_its_partition_without_a_dlq(seed):
    r = dead_letters("no_dlq", seed=seed)
    t = r.trace
    booked = t[(t.event == "side_effect") & (t.topic == "payments")]
    for partition, first_bad in _poison_partitions(r).items():
        # nothing behind the first poison record of a partition is ever handled: a crash loop
        assert booked.loc[booked.partition == partition, "offset"].max() < first_bad
    assert r.report.crashes > 5 and r.report.drained == 0
    assert r.report.stuck > 0 and r.report.lost == 0 and r.report.dead_lettered == 0
    assert r.report.blocked_ms > 0.5 * (r.report.duration - t.loc[t.event == "handler_error", "time"].min())


@pytest.mark.parametrize("seed", SEEDS)
def test_with_a_dlq_the_poison_is_parked_and_the_partition_keeps_flowing(seed):
    r = dead_letters("dlq", seed=seed)
    t = r.trace
    parked = set(t.loc[t.event == "dead_lettered", "msg_id"])
    assert parked == set(r.params["poison"])
    assert r.report.processed == r.report.produced - r.report.malformed
    assert r.report.lost == 0 and r.report.stuck == 0 and r.report.crashes == 0 and r.report.drained == 1
    # the partition pauses only for the back-offs of each poison record: 20 + 40 + 80 ms
    assert r.report.blocked_ms == pytest.approx(r.report.malformed * (20 + 40 + 80), rel=0.05)
    assert r.report.retries == 3 * r.report.malformed


def test_skipping_keeps_the_partition_flowing_but_loses_the_poison():
    r = dead_letters("skip", seed=0)
    assert r.report.lost == r.report.malformed > 0
    assert set(r.checks["lost"].examples) <= set(r.params["poison"])
    assert r.report.stuck == 0 and r.report.dead_lettered == 0 and r.report.drained == 1


def test_every_design_meets_the_same_poison_messages():
    assert len({dead_letters(d, seed=4).params["poison"] for d in DESIGNS}) == 1


@settings(max_examples=15)
@given(st.sets(st.integers(0, 59), max_size=6))
def test_a_dlq_parks_exactly_the_malformed_messages_whichever_they_are(bad):
    r = dead_letters("dlq", poison=sorted(bad), messages=60, seed=1)
    t = r.trace
    assert set(t.loc[t.event == "dead_lettered", "msg_id"]) == bad
    assert set(t.loc[t.event == "side_effect", "msg_id"]) == set(range(60)) - bad
    assert r.report.lost == 0 and r.report.stuck == 0


def test_dlq_depth_alert_fires_once_when_dead_letters_cross_the_threshold():
    r = dead_letters("dlq", poison=3, seed=0, dlq_alert_threshold=2)
    t = r.trace
    alerts = t[(t.event == "alert") & t.detail.astype(str).str.startswith("dlq_depth=")]
    assert r.report.alerts == 1 and len(alerts) == 1
    third = t[(t.event == "append") & (t.topic == "payments" + DLT_SUFFIX)]["time"].iloc[2]
    assert third <= alerts["time"].iloc[0] <= third + r.params["monitor_interval"]
    assert r.report.dlq_depth_max == 3 == r.series["dlq_depth"]["dlq_depth"].max()
    quiet = dead_letters("dlq", poison=3, seed=0, dlq_alert_threshold=3)
    assert quiet.report.alerts == 0 and not (quiet.trace.event == "alert").any()


def test_the_monitors_see_the_final_state_after_a_drain():
    # the last dead letter lands just before the group drains: the depth monitor still samples it
    r = dead_letters("dlq", poison=3, seed=0, messages=200, dlq_alert_threshold=2)
    assert r.report.drained == 1 and r.report.dead_lettered == 3
    assert r.series["dlq_depth"]["dlq_depth"].iloc[-1] == 3 and r.report.alerts == 1
    assert r.series["dlq_depth"]["time"].iloc[-1] > r.report.duration  # the extra look after the drain
    assert r.series["consumer_lag"]["consumer_lag"].iloc[-1] == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_a_blocked_partition_s_lag_grows_until_the_lag_alert_fires_and_never_resolves(seed):
    r = dead_letters("no_dlq", poison=1, seed=seed)
    t = r.trace
    (partition, offset), = _poison_partitions(r).items()
    lag = r.series["lag"]
    mine = lag[lag.partition == partition]
    end_offset = int(((t.event == "append") & (t.topic == "payments") & (t.partition == partition)).sum())
    # at the end, everything from the poison record on is lag: it is the stuck record plus all behind it
    assert mine["lag"].iloc[-1] == end_offset - offset == r.report.lag_max
    assert r.report.lag_max > r.params["lag_alert_threshold"] and r.report.lag_alerts == 1
    first_failure = t.loc[t.event == "handler_error", "time"].min()
    assert r.report.lag_alert_at > first_failure
    detail = t.detail.astype(str)
    assert not ((t.event == "resolved") & detail.str.startswith("consumer_lag=")).any()
    # the partitions without a poison record keep up (rebalances only make them wait briefly)
    others = lag[lag.partition != partition].groupby("partition")["lag"].max()
    assert (others <= r.params["lag_alert_threshold"]).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_with_a_dlq_the_lag_bumps_for_the_retries_and_falls_back_without_an_alert(seed):
    r = dead_letters("dlq", poison=1, seed=seed)
    assert r.report.lag_alerts == 0 and r.report.lag_alert_at == -1
    assert 0 < r.report.lag_max <= r.params["lag_alert_threshold"]
    last = r.series["lag"].groupby("partition")["lag"].last()
    assert (last == 0).all()


def test_long_retries_block_the_partition_long_enough_to_fire_the_lag_alert_then_it_resolves():
    r = dead_letters("dlq", poison=1, seed=0, backoff=200)  # 200 + 400 + 800 ms of waiting in line
    t = r.trace
    detail = t.detail.astype(str)
    fired = t[(t.event == "alert") & detail.str.startswith("consumer_lag=")]
    resolved = t[(t.event == "resolved") & detail.str.startswith("consumer_lag=")]
    assert len(fired) == 1 == r.report.lag_alerts and len(resolved) == 1
    assert fired["time"].iloc[0] < resolved["time"].iloc[0]
    parked = t.loc[t.event == "dead_lettered", "time"].iloc[0]
    assert fired["time"].iloc[0] <= parked  # it fires while the record is still being retried


def test_lag_series_is_the_monitor_s_worst_partition_read_from_the_trace():
    from simkit.scenarios.dead_letters import lag_series

    for design in DESIGNS:
        r = dead_letters(design, poison=2, seed=3)
        worst = r.series["lag"].groupby("time")["lag"].max()
        monitor = r.series["consumer_lag"].set_index("time")["consumer_lag"]
        assert (worst.reindex(monitor.index) == monitor).all()
    tr = sk.Trace()
    for i in range(3):
        tr.record(float(i), "b", "append", "t", 0, i, None, i)
    tr.record(1.5, "c", "commit", "t", 0, 1, None, None, "g")
    tr.record(1.5, "c", "commit", "t", 0, 2, None, None, "other-group")
    lag = lag_series(tr.to_frame(), "t", [0.0, 1.0, 1.5, 2.0], group="g")
    assert lag["lag"].tolist() == [1, 2, 1, 2]
    assert lag_series(tr.to_frame(), "missing", [0.0]).empty


def test_the_operations_plots_state_what_happened():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stuck = dead_letters("no_dlq", poison=1, seed=0)
    bad = stuck.params["poison"][0]
    ax = sk.plots.poison_timeline(stuck)
    behind = stuck.report.stuck - 1
    assert f"message {bad}" in ax.get_title() and f"{behind} records behind it" in ax.get_title()
    ax = sk.plots.consumer_lag(stuck)
    assert f"{stuck.report.lag_max} records behind" in ax.get_title() and "still firing" in ax.get_title()
    parked = dead_letters("dlq", poison=1, seed=0)
    ax = sk.plots.poison_timeline(parked)
    assert "parked after 4 failed attempts" in ax.get_title()
    ax = sk.plots.consumer_lag(parked)
    assert "no alert" in ax.get_title()
    with pytest.raises(ValueError):
        sk.plots.poison_timeline(dead_letters("dlq", poison=0, seed=0))
    plt.close("all")


def test_retries_ride_out_a_transient_outage_that_short_backoffs_do_not():
    # 3 retries from 50 ms: 350 ms of waits, longer than the outage
    patient = dead_letters("dlq", poison=0, seed=0, db_outage=(500, 200), handler_retries=3, backoff=50)
    assert patient.report.dead_lettered == 0 and patient.report.processed == patient.report.produced
    assert patient.report.retries > 0
    hasty = dead_letters("dlq", poison=0, seed=0, db_outage=(500, 200), handler_retries=1, backoff=10)
    assert hasty.report.dead_lettered > 0  # good records parked: the dead letters need a replay later
    assert hasty.report.lost == 0


def test_malformed_amounts_fail_by_parsing():
    assert parse_cents("12.34") == 1234
    for bad in ("12,34", "", "1.2", "abc.de"):
        with pytest.raises(ValueError):
            parse_cents(bad)


def test_the_dlq_scenario_writes_only_documented_events():
    for design in DESIGNS:
        assert set(dead_letters(design, seed=0, max_time=3000).trace.event) <= set(sk.EVENTS)


def test_same_seed_same_history():
    a, b = dead_letters("dlq", seed=7), dead_letters("dlq", seed=7)
    assert a.trace.equals(b.trace)


# -- bad input ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(design="retry_forever"), dict(poison=-1), dict(poison=1.5), dict(poison=[999]), dict(poison=True),
    dict(poison=400), dict(handler_retries=-1), dict(backoff=-5), dict(db_outage=(1, 2, 3)), dict(db_outage=(10, 0)),
    dict(partitions=0), dict(messages=0), dict(seed=1.5), dict(lag_alert_threshold=-1),
    dict(lag_alert_threshold="high"), dict(max_time=0),
])
def test_bad_parameters_are_config_errors(kwargs):
    args = dict(design="dlq") | kwargs
    with pytest.raises(sk.ConfigError):
        dead_letters(**args)


def test_a_monitor_too_fine_for_the_run_is_a_config_error_not_a_memory_error():
    with pytest.raises(sk.ConfigError, match="monitor_interval"):
        dead_letters("dlq", monitor_interval=1e-9)
    with pytest.raises(sk.ConfigError, match="arrival_interval"):
        dead_letters("dlq", arrival_interval=sk.constant(1e9))


def test_the_old_positional_order_retries_keyword_and_poison_field_still_work_and_warn():
    new = dead_letters("dlq", poison=2, messages=80, seed=1, handler_retries=2)
    with pytest.warns(DeprecationWarning, match="handler_retries="):
        by_keyword = dead_letters("dlq", poison=2, messages=80, seed=1, retries=2)
    with pytest.warns(DeprecationWarning, match="poison="):
        positional = dead_letters("dlq", 2, 80, 1, handler_retries=2)
    assert new.report == by_keyword.report == positional.report
    with pytest.warns(DeprecationWarning, match="malformed"):
        assert new.report.poison == new.report.malformed == 2


def test_every_design_runs_under_compare():
    df = sk.compare("dead_letters", DESIGNS, seeds=1, messages=60, poison=1, max_time=3000)
    assert list(df.design) == list(DESIGNS) and (df.malformed == 1).all()



def test_the_payments_actor_alone_writes_a_decimal_comma_exactly_for_the_poison_ids():
    from simkit.scenarios.dead_letters import DeadLettersParams, payments

    world = sk.World(0)
    broker = sk.Broker(world)
    broker.create_topic("payments", 1)
    producer = sk.Producer(world, broker, "payments", partitioner="key")
    sent = world.env.event()
    world.env.process(payments(world, producer, {1, 3}, sent, DeadLettersParams(design="dlq", messages=6)))
    world.run()
    values = {r.msg_id: r.value["amount"] for r in broker.log_of("payments")[0].records}
    malformed = set()
    for msg_id, amount in values.items():
        try:
            parse_cents(amount)
        except ValueError:
            malformed.add(msg_id)
    assert sent.triggered and len(values) == 6 and malformed == {1, 3}
