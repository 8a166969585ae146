"""The handler a learner writes: how it is called, what ctx gives it, and what its failures do."""

import pytest

import simkit as sk
from simkit.handlers import Handler, handler_arity


def test_handler_arity_tells_one_argument_handlers_from_two():
    assert handler_arity(lambda record: None) == 1
    assert handler_arity(lambda record, ctx: None) == 2
    assert handler_arity(print) == 2  # *args
    with pytest.raises(sk.ConfigError, match="handler"):
        handler_arity(lambda: None)


def run_with(handler, on_error, n=5):
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b)
    for i in range(n):
        p.send("t", msg_id=i)
    sk.Consumer(w, b, "c", "t", handler, commit="after_processing", on_error=on_error,
                auto_offset_reset="earliest", session_timeout=50, restart_delay=10)
    w.run(until=500)
    return w.trace.to_frame()


def fails_on_two(record):
    if record.msg_id == 2:
        raise ValueError("bad amount")


def test_on_error_skip_writes_the_error_and_carries_on():
    t = run_with(fails_on_two, "skip")
    errors = t[t.event == "handler_error"]
    assert errors.msg_id.tolist() == [2] and "bad amount" in errors.detail.iloc[0]
    assert t[t.event == "processed"].msg_id.tolist() == [0, 1, 3, 4]
    assert t[t.event == "commit"].offset.max() == 5  # the skipped record is committed too


def test_on_error_crash_meets_the_poison_record_again_after_every_restart():
    t = run_with(fails_on_two, "crash")
    assert (t.event == "crash").sum() >= 3 and set(t[t.event == "crash"].detail) == {"handler_error"}
    assert 3 not in set(t[t.event == "processed"].msg_id)


def test_on_error_raise_stops_the_run_naming_the_handler_and_the_message():
    with pytest.raises(sk.ExerciseError, match=r"fails_on_two.*ValueError.*message 2.*offset 2"):
        run_with(fails_on_two, "raise")


def test_a_generator_handler_runs_as_simulated_steps():
    seen = []

    def slow(record, ctx):
        yield ctx.env.timeout(25)
        seen.append(ctx.now)

    run_with(slow, "raise", n=3)
    assert seen == [25, 50, 75]


def test_bad_handlers_and_error_modes_are_config_errors():
    with pytest.raises(sk.ConfigError, match="handler"):
        Handler("not callable")
    with pytest.raises(sk.ConfigError, match="on_error"):
        Handler(print, on_error="ignore")
