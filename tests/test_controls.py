"""sk.interact: one control change runs one redraw; a broken first draw fails the cell; bad values explain themselves."""

import pytest

import simkit as sk


def _explore(calls):
    def explore(crash_rate=0.0, design="outbox", seed=1):
        calls.append((crash_rate, design, seed))
        if crash_rate > 0.2:
            raise sk.ConfigError("crash_rate", crash_rate, "0 to 0.2")
    return explore


def test_draws_once_with_defaults_and_once_per_change(capsys):
    calls = []
    ui = sk.interact(_explore(calls), crash_rate=(0.0, 0.3, 0.05), design=["dual_write", "outbox"], seed=(1, 5))
    assert calls == [(0.0, "outbox", 1)]
    slider, menu, seed = ui.widget.kwargs_widgets
    assert ui.controls == {"crash_rate": slider, "design": menu, "seed": seed}
    assert slider.continuous_update is False and seed.continuous_update is False  # redraw on release
    menu.value = "dual_write"
    assert calls[-1] == (0.0, "dual_write", 1) and len(calls) == 2
    assert sk.controls.REGISTRY[-1] is ui.widget


def test_a_bad_value_chosen_later_prints_simkit_s_message_not_a_traceback(capsys):
    calls = []
    ui = sk.interact(_explore(calls), crash_rate=(0.0, 0.3, 0.05))
    ui.controls["crash_rate"].value = 0.25
    out = capsys.readouterr().out
    assert "ConfigError: crash_rate=0.25 is not allowed: expected 0 to 0.2" in out
    assert "Traceback" not in out


def test_a_failing_first_draw_fails_the_cell():
    def broken(x=1):
        raise ZeroDivisionError("the lesson's code is wrong")

    with pytest.raises(ZeroDivisionError):
        sk.interact(broken, x=(1, 3))
    with pytest.raises(sk.ConfigError, match="crash_rate"):
        sk.interact(_explore([]), crash_rate=[0.25, 0.1])  # the first option is the default


def test_as_the_last_line_of_a_cell_it_is_not_displayed_a_second_time():
    ui = sk.interact(_explore([]), seed=(1, 5))
    assert ui._ipython_display_() is None  # IPython calls this instead of showing the widget again
    assert repr(ui) == "Controls(crash_rate, design, seed)"  # every keyword with a default gets a control
