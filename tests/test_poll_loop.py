"""The life of a consumer process: incarnations, restarts, helpers that die with it, and its end."""

import simkit as sk


def consumer_with(n=50, **kw):
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b)
    for i in range(n):
        p.send("t", msg_id=i)
    c = sk.Consumer(w, b, "c", "t", auto_offset_reset="earliest", processing_time=10, session_timeout=100,
                    restart_delay=200, **kw)
    return w, c


def test_each_restart_is_a_new_member_that_joins_after_the_restart_delay():
    w, c = consumer_with(commit="after_processing")
    c.crash_at(55)
    c.crash_at(400)
    w.run(until=2000)
    t = w.trace.to_frame()
    joins = t[t.event == "join"]
    assert joins.detail.tolist() == ["c.1", "c.2", "c.3"]
    assert joins.time.tolist() == [0, 255, 600]
    assert c.incarnation == 3


def test_a_crash_ends_the_helpers_of_the_incarnation():
    w, c = consumer_with(commit="auto", auto_commit_interval=30, workers=2)
    c.crash_at(55)
    w.run(until=50)
    helpers = list(c.helpers)
    assert len(helpers) == 3 and all(h.is_alive for h in helpers)  # the auto-commit timer and two workers
    w.run(until=60)
    assert not any(h.is_alive for h in helpers) and c.helpers == []
    w.run(until=300)  # back at 255 with helpers of its own
    assert len(c.helpers) == 3 and not set(c.helpers) & set(helpers)


def test_closing_a_crashed_consumer_keeps_it_down():
    w, c = consumer_with(commit="after_processing")
    c.crash_at(55)

    def close_while_down():
        yield w.env.timeout(100)
        c.close()

    w.env.process(close_while_down())
    w.run(until=2000)
    t = w.trace.to_frame()
    assert not (t.event == "restart").any() and not c.process.is_alive


def test_a_consumer_closed_or_stopped_before_its_start_never_starts():
    for how in ("close", "stop"):
        w, c = consumer_with(start=100)

        def later():
            yield w.env.timeout(10)
            getattr(c, how)()

        w.env.process(later())
        w.run(until=500)
        t = w.trace.to_frame()
        assert not (t.event == "join").any() and not c.process.is_alive, how
