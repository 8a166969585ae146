"""The outbox table and its relay: atomic with the state, at least once, watched by lag and age."""

import pytest

import simkit as sk

TOPIC = "events"


def build(seed=1, relay=True, db_latency=1, **relay_kw):
    w = sk.World(seed=seed)
    b = sk.Broker(w)
    b.create_topic(TOPIC, 1)
    db = sk.Database(w, commit_latency=db_latency)
    db.create_table("app.users")
    box = sk.Outbox(db, "app.outbox")
    p = sk.Producer(w, b, latency=sk.uniform(1, 2), request_timeout=500, delivery_timeout=500)
    r = sk.Relay(w, box, p, poll_interval=20, batch_size=5, restart_delay=50, **relay_kw) if relay else None
    return w, b, db, box, r


def write(w, db, box, n, every=5, crash_before_commit=()):
    """A writer that creates ``n`` users, each with its event, ``every`` ms apart."""

    def writer():
        for i in range(n):
            yield w.env.timeout(every)
            tx = db.transaction(msg_id=f"e{i}")
            tx.put("app.users", i, {"name": f"u{i}"})
            box.add(tx, f"e{i}", TOPIC, key=f"u{i}", payload={"user": i})
            if i in crash_before_commit:
                tx.abort()  # the writer died before committing: the database rolls the transaction back
                continue
            yield from tx.commit()

    w.env.process(writer())


def appended(w):
    t = w.trace.to_frame()
    return list(t.loc[t.event == "append", "msg_id"])


def test_outbox_rows_are_invisible_until_their_transaction_commits():
    w, b, db, box, _ = build(relay=False, db_latency=10)
    seen = []

    def writer():
        tx = db.transaction(msg_id="e0")
        box.add(tx, "e0", TOPIC, key="u0")
        seen.append(box.lag())
        yield from tx.commit()
        seen.append(box.lag())

    w.env.process(writer())
    w.run(until=100)
    assert seen == [0, 1]
    assert [r.event_id for r in box.unpublished()] == ["e0"]


def test_relay_publishes_every_committed_row_once_in_order_and_marks_it():
    w, b, db, box, _ = build()
    write(w, db, box, 30)
    w.run(until=2000)
    assert appended(w) == [f"e{i}" for i in range(30)]
    assert box.lag() == 0 and box.age() == 0
    assert all(row.published_at is not None for row in db.table("app.outbox").values())
    t = w.trace.to_frame()
    assert list(t.loc[t.event == "outbox_marked", "msg_id"]) == [f"e{i}" for i in range(30)]


def test_an_aborted_transaction_publishes_nothing():
    w, b, db, box, _ = build()
    write(w, db, box, 10, crash_before_commit={3, 7})
    w.run(until=1000)
    assert appended(w) == [f"e{i}" for i in range(10) if i not in (3, 7)]
    assert box.lag() == 0


@pytest.mark.parametrize("point,duplicates", [("after_read", 0), ("after_publish", 1), ("after_mark", 0)])
def test_only_a_relay_crash_between_publish_and_mark_publishes_twice(point, duplicates):
    w, b, db, box, r = build(crash_schedule=[(4, point)])
    write(w, db, box, 12)
    w.run(until=2000)
    t = w.trace.to_frame()
    assert ((t.component == "relay") & (t.event == "crash")).sum() == 1
    assert sk.checks.duplicates(t, "append").count == duplicates
    assert set(appended(w)) == {f"e{i}" for i in range(12)}  # nothing lost, whatever the point
    if duplicates:
        assert sk.checks.duplicates(t, "append").examples == ("e4",)


def test_a_mark_refused_by_the_database_makes_the_relay_publish_again():
    w, b, db, box, r = build()
    write(w, db, box, 1, every=10)
    # the row commits at 11 ms; the relay reads it at 20 ms, the broker appends it by 22 ms and the ack
    # is back by 24 ms: the mark's commit ends inside the outage
    db.outage(22.5, 7)
    w.run(until=500)
    t = w.trace.to_frame()
    assert (t.event == "db_rejected").sum() >= 1
    assert appended(w).count("e0") == 2
    assert box.lag() == 0


def test_relay_that_dies_stops_publishing_and_never_restarts():
    w, b, db, box, r = build(dies_at=100)
    write(w, db, box, 60)
    w.run(until=1000)
    t = w.trace.to_frame()
    relay = t[t.component == "relay"]
    assert (relay.event == "restart").sum() == 0
    assert relay[relay.event == "crash"].detail.tolist() == ["died: no restart"]
    assert (t.loc[t.event == "append", "time"] <= 100 + 5).all()
    assert box.lag() == 60 - len(appended(w)) > 40
    assert box.age() > 800


def test_relay_keeps_order_and_loses_nothing_across_a_broker_outage_longer_than_its_timeout():
    w, b, db, box, _ = build()
    b.outage(50, 900)  # the producer gives up after 500 ms; the relay reads the row again
    write(w, db, box, 40)
    w.run(until=4000)
    t = w.trace.to_frame()
    assert (t.event == "send_failed").sum() >= 1
    assert appended(w) == [f"e{i}" for i in range(40)]


def test_lag_and_age_monitors_alert_into_the_trace():
    w, b, db, box, _ = build(dies_at=50)
    mons = box.monitors(interval=10, alert_lag=10, alert_age=200)
    write(w, db, box, 40, every=10)
    w.run(until=600)
    t = w.trace.to_frame()
    alerts = t[t.event == "alert"]
    assert sorted(d.split("=")[0] for d in alerts.detail) == ["outbox_age", "outbox_lag"]
    lag = mons["outbox_lag"].to_frame()
    first = float(alerts[alerts.detail.str.startswith("outbox_lag")].time.iloc[0])
    # the alert fires at the first sample above the threshold, and not before
    assert lag[lag.time < first].outbox_lag.max() <= 10 < float(lag[lag.time == first].outbox_lag.iloc[0])
    age = mons["outbox_age"].to_frame()
    assert age.outbox_age.iloc[-1] == pytest.approx(600 - 60, abs=15)  # the oldest row waits since ~60 ms


def test_monitors_resolve_when_the_backlog_drains():
    w, b, db, box, _ = build()
    b.outage(20, 300)
    box.monitors(interval=10, alert_lag=5)
    write(w, db, box, 30, every=5)
    w.run(until=1500)
    t = w.trace.to_frame()
    assert (t.event == "alert").sum() == 1 and (t.event == "resolved").sum() == 1
    assert t[t.event == "alert"].time.iloc[0] < t[t.event == "resolved"].time.iloc[0]


@pytest.mark.parametrize("kwargs,param", [
    (dict(poll_interval=0), "poll_interval"),
    (dict(batch_size=0), "batch_size"),
    (dict(crash_rate=1.5), "crash_rate"),
    (dict(crash_schedule=[(0, "after_lunch")]), "crash_schedule"),
    (dict(dies_at=-5), "dies_at"),
    (dict(restart_delay="soon"), "restart_delay"),
])
def test_bad_relay_parameters_are_config_errors(kwargs, param):
    w, b, db, box, _ = build(relay=False)
    p = sk.Producer(w, b, name="p2")
    with pytest.raises(sk.ConfigError) as err:
        sk.Relay(w, box, p, **kwargs)
    assert err.value.param == param


def test_outbox_refuses_a_transaction_of_another_database():
    w, b, db, box, _ = build(relay=False)
    other = sk.Database(w, "other")
    with pytest.raises(sk.ConfigError):
        box.add(other.transaction(), "e0", TOPIC)
    with pytest.raises(sk.ConfigError):
        sk.Outbox("not a database")


def test_the_duplicate_window_runs_from_the_ack_to_the_mark():
    w, b, db, box, r = build(crash_schedule=[(2, "after_publish")])
    write(w, db, box, 5)
    w.run(until=1000)
    t = w.trace.to_frame()
    steps = t[(t.msg_id == "e2") & (t.component == "relay")].event.tolist()
    assert steps == ["outbox_read", "outbox_published", "crash", "outbox_read", "outbox_published",
                     "outbox_marked"]
