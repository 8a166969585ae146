"""sk.interact: one control change runs one redraw; a broken first draw fails the cell; bad values explain themselves."""

import time

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
    assert sk.controls.REGISTRY[-1] is ui


def test_a_bad_value_chosen_later_prints_simkit_s_message_not_a_traceback(capsys):
    calls = []
    ui = sk.interact(_explore(calls), crash_rate=(0.0, 0.3, 0.05))
    ui.controls["crash_rate"].value = 0.25
    out = "".join(o.get("text", "") for o in ui.widget.out.outputs)  # what the widget shows under the controls
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


def test_a_burst_of_changes_before_the_redraw_runs_collapses_into_one_redraw_of_the_latest_values():
    waiting = []  # stands in for the kernel's event loop: redraws run when we say so
    values = {"x": 0}
    seen = []
    burst = sk.controls.Coalescer(lambda: seen.append(values["x"]), waiting.append)
    for x in (1, 2, 3):  # three key presses reach the kernel while it is busy
        values["x"] = x
        burst.request()
    assert len(waiting) == 1 and seen == []
    waiting.pop()()
    assert seen == [3] and burst.draws == 1  # one redraw, of the value the readout shows


def test_a_change_during_a_redraw_queues_exactly_one_more_redraw():
    waiting = []
    values = {"x": 0}
    seen = []

    def draw():
        seen.append(values["x"])
        if values["x"] == 1:  # the learner moves the slider twice while this draw is running
            for x in (2, 3):
                values["x"] = x
                burst.request()

    burst = sk.controls.Coalescer(draw, waiting.append)
    values["x"] = 1
    burst.request()
    waiting.pop()()
    assert len(waiting) == 1
    waiting.pop()()
    assert seen == [1, 3] and not waiting  # the figure ends on the latest value, after two redraws, not three


def test_a_change_made_by_code_redraws_at_once_and_drawn_says_what_the_figure_shows():
    calls = []
    ui = sk.interact(_explore(calls), crash_rate=(0.0, 0.3, 0.05), seed=(1, 5))
    assert ui.drawn == {"crash_rate": 0.0, "design": "outbox", "seed": 1} and ui.redraws == 0
    ui.controls["seed"].value = 4
    assert calls[-1] == (0.0, "outbox", 4)
    assert ui.drawn["seed"] == 4 and ui.redraws == 1


class _Publisher:
    """Stands in for the kernel's display publisher: each display goes through the registered hooks."""

    def __init__(self):
        self.hooks = []
        self.sent = []

    def register_hook(self, hook):
        self.hooks.append(hook)

    def unregister_hook(self, hook):
        self.hooks.remove(hook)

    def publish(self, data):
        msg = {"msg_type": "display_data", "content": {"data": data, "metadata": {}}}
        for hook in self.hooks:
            if (msg := hook(msg)) is None:
                return
        self.sent.append(msg)


def test_a_redraw_that_shows_nothing_keeps_the_figure_and_says_which_values_it_is_from(monkeypatch):
    import IPython

    shell = type("Shell", (), {"display_pub": _Publisher()})()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)

    def explore(seed=1):
        if seed != 3:  # seed 3 stands for a draw that ends without an error and without a figure
            shell.display_pub.publish({"image/png": f"figure of seed {seed}", "text/plain": "<Figure>"})

    ui = sk.interact(explore, seed=(1, 5))
    assert [o["data"]["image/png"] for o in ui.widget.out.outputs] == ["figure of seed 1"]
    ui.controls["seed"].value = 2
    assert [o["data"]["image/png"] for o in ui.widget.out.outputs] == ["figure of seed 2"]
    ui.controls["seed"].value = 3
    figure, note = ui.widget.out.outputs
    assert figure["data"]["image/png"] == "figure of seed 2"  # not an empty widget
    assert note["output_type"] == "stream" and "seed=3 showed no figure" in note["text"]
    assert ui.drawn == {"seed": 2}  # what the figure on screen was drawn with
    ui.controls["seed"].value = 4
    assert [o["data"]["image/png"] for o in ui.widget.out.outputs] == ["figure of seed 4"]
    assert ui.drawn == {"seed": 4} and shell.display_pub.sent == []  # every figure went to the widget


def test_a_redraw_whose_figure_came_out_without_its_image_draws_once_more_and_says_so(monkeypatch):
    import IPython

    shell = type("Shell", (), {"display_pub": _Publisher()})()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    calls = []

    def explore(seed=1):
        calls.append(seed)
        if len(calls) == 2:  # the first redraw's figure shows its text alone, as in the CI run of issue 14
            shell.display_pub.publish({"text/plain": "<Figure size 900x400 with 1 Axes>"})
        else:
            shell.display_pub.publish({"image/png": f"figure of seed {seed}", "text/plain": "<Figure size 9x4>"})

    ui = sk.interact(explore, seed=(1, 5))
    ui.controls["seed"].value = 2
    assert calls == [1, 2, 2]  # drawn again, once
    assert [o["data"]["image/png"] for o in ui.widget.out.outputs] == ["figure of seed 2"]
    assert ui.drawn == {"seed": 2} and "text alone: <Figure size 900x400" in ui.widget._recovered[-1]
    ui.controls["seed"].value = 3
    assert calls == [1, 2, 2, 3]  # a good draw is not repeated


def test_a_figure_text_alone_twice_is_shown_as_it_is_not_retried_forever(monkeypatch):
    import IPython

    shell = type("Shell", (), {"display_pub": _Publisher()})()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    calls = []

    def explore(seed=1):
        calls.append(seed)
        if seed == 2:
            shell.display_pub.publish({"text/plain": "<Figure size 900x400 with 0 Axes>"})

    ui = sk.interact(explore, seed=(1, 5))
    ui.controls["seed"].value = 2
    assert calls == [1, 2, 2]
    assert [o["data"] for o in ui.widget.out.outputs] == [{"text/plain": "<Figure size 900x400 with 0 Axes>"}]


def test_a_figure_whose_one_pass_drawing_raises_is_drawn_by_the_inline_backend(monkeypatch):
    import functools

    import matplotlib
    import matplotlib.pyplot as plt
    from IPython.core.formatters import PNGFormatter
    from IPython.core.pylabtools import print_figure
    from matplotlib.figure import Figure

    matplotlib.use("agg")
    fig, ax = plt.subplots()
    ax.plot(range(5))
    printer = functools.partial(print_figure, fmt="png", base64=True, bbox_inches="tight")
    formatter = PNGFormatter()
    formatter.for_type(Figure, printer)
    shell = type("Shell", (), {})()
    shell.display_formatter = type("Formatters", (), {"formatters": {"image/png": formatter}})()

    def broken(fig):
        raise AttributeError("'NoneType' object has no attribute 'draw'")

    monkeypatch.setattr(sk.controls, "_png_drawn_once", broken)
    ui = type("UI", (), {})()
    with sk.controls._figures_drawn_once(shell, ui):
        assert formatter(fig) == printer(fig)
    assert ui._recovered == ["drawn by the inline backend after AttributeError: 'NoneType' object has no attribute 'draw'"]
    assert not getattr(ui, "_reaches_past_edges", False)  # one failure does not send later figures the long way
    plt.close(fig)


# A real kernel, moved as JupyterLab moves it: each press of a slider is a ``comm_msg`` that sets the control's
# value, and the browser asks what the control set shows with a silent execute whose user expression is read from
# the reply (so it can land between presses, as the browser test's idle polls do).
KERNEL_CELL = '''
import threading
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import simkit as sk

drew_on = []  # the thread each draw ran on
closed_on = set()  # the threads figures were closed on

from matplotlib.backend_bases import FigureManagerBase
_destroy = FigureManagerBase.destroy

def _destroy_on(self):
    closed_on.add(threading.current_thread().name)
    return _destroy(self)

FigureManagerBase.destroy = _destroy_on

plt.close(plt.figure())  # loads the inline backend, which registers the figure formats
_png = get_ipython().display_formatter.formatters["image/png"]
_render = _png.lookup_by_type(Figure)

def _png_of(fig, *args, **kwargs):  # the PNG of a figure titled "no png" fails to render, as a broken backend would
    if fig._suptitle is not None and fig._suptitle.get_text() == "no png":
        raise RuntimeError("this figure cannot be rendered")
    return _render(fig, *args, **kwargs)

_png.for_type(Figure, _png_of)

def explore(x=0, broken=False):
    drew_on.append(threading.current_thread().name)
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.bar([0], [x + 1])
    fig.suptitle("no png" if broken else f"x={x}")
    plt.show()

c = sk.interact(explore, x=(0, 9), broken=False)
'''
SHOWN = ("__import__('json').dumps({'values': {k: w.value for k, w in c.controls.items()}, 'drawn': c.drawn, "
         "'ids': {k: w.model_id for k, w in c.controls.items()}, 'outputs': list(c.widget.out.outputs), "
         "'drew_on': drew_on[-3:], 'closed_on': sorted(closed_on)})")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    import ast
    import json
    import os
    from pathlib import Path

    from jupyter_client.manager import KernelManager

    root = Path(__file__).resolve().parent.parent
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path_factory.mktemp("kernel") / "k"))
    km.start_kernel(env={**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline",
                         "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))})
    client = km.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)

    def reply(msg_id):
        while True:
            msg = client.get_shell_msg(timeout=120)
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]

    class Kernel:
        def run(self, code):
            content = reply(client.execute(code))
            assert content["status"] == "ok", content

        def shown(self):
            content = reply(client.execute("", silent=True, store_history=False, user_expressions={"q": SHOWN}))
            q = content["user_expressions"]["q"]
            assert q["status"] == "ok", q
            return json.loads(ast.literal_eval(q["data"]["text/plain"]))  # the repr of the JSON text

        def press(self, name, value, subshell=None):  # as the browser sends it, without waiting for anything
            msg = client.session.msg("comm_msg", {"comm_id": self.ids[name], "data": {
                "method": "update", "state": {"value": value}, "buffer_paths": []}})
            if subshell is not None:  # as JupyterLab 4.4+ sends it (commsOverSubshells), to a thread of its own
                msg["header"]["subshell_id"] = subshell
            client.shell_channel.send(msg)

        def subshell(self):
            msg = client.session.msg("create_subshell_request", {})
            client.control_channel.send(msg)
            while True:
                answer = client.get_control_msg(timeout=60)
                if answer["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                    return answer["content"]["subshell_id"]

        def busy(self, code):  # a cell the main thread runs while presses arrive; its reply is not awaited
            return client.execute(code)

        def settled(self):
            for _ in range(600):  # the redraws run once the kernel has taken the presses; each is a small figure
                now = self.shown()
                if now["values"] == now["drawn"]:
                    return now
            raise AssertionError(f"the figure never caught up with the controls: {now['values']} against {now['drawn']}")

    k = Kernel()
    k.run(KERNEL_CELL)
    k.ids = k.shown()["ids"]
    yield k
    client.stop_channels()
    km.shutdown_kernel(now=True)


def _kinds(outputs):
    return [[o["output_type"], *sorted(o.get("data", {}))] for o in outputs]


@pytest.mark.slow
def test_in_a_kernel_every_burst_of_three_presses_ends_with_one_figure_of_the_values_shown(kernel):
    """Issue 14: after three quick presses the widget must hold exactly one image, of the values the controls say."""
    x = kernel.shown()["values"]["x"]
    bursts = [(0, 0, 0), (0.002, 0.002, 0), (0.02, 0, 0.02), (0.1, 0.1, 0), (0, 0.05, 0.2)] * 4
    for i, gaps in enumerate(bursts):
        step = 1 if x < 5 else -1
        for k, gap in enumerate(gaps):
            x += step
            kernel.press("x", x)
            if i % 2 and k == 0:
                kernel.shown()  # the browser's poll can land between two presses
            time.sleep(gap)
        now = kernel.settled()
        assert now["values"]["x"] == x, f"burst {i}: the controls say {now['values']}, the last press set x={x}"
        assert _kinds(now["outputs"]) == [["display_data", "image/png", "text/plain"]], (
            f"burst {i} (gaps {gaps}): the widget holds {_kinds(now['outputs'])}")


@pytest.mark.slow
def test_in_a_kernel_presses_sent_over_a_subshell_redraw_on_the_main_thread(kernel):
    """CI, stop 20: JupyterLab sends widget messages over a subshell, which ipykernel 7 runs on a thread of its own.

    A redraw drawn there raced the main thread's cells and their ``flush_figures`` (pyplot is not thread-safe): its
    figure was closed mid-draw and the widget held the figure's text alone. Here cells that keep a figure open a
    moment run on the main thread while the presses arrive over a subshell; every redraw must run on the main
    thread and end with one image of the values shown, and no figure may be closed on the subshell's thread (the
    comm package runs the inline backend's flush there after each message).
    """
    subshell = kernel.subshell()
    x = kernel.shown()["values"]["x"]
    for burst in range(6):
        busy = [kernel.busy("import time as _t\nfor _ in range(20):\n    _f = plt.figure(); _t.sleep(0.005); plt.close(_f)")
                for _ in range(2)]
        step = 1 if x < 5 else -1
        for _ in range(3):
            x += step
            kernel.press("x", x, subshell=subshell)
            time.sleep(0.01)
        assert busy
        now = kernel.settled()
        assert now["values"]["x"] == x, f"burst {burst}: the controls say {now['values']}, the last press set x={x}"
        assert set(now["drew_on"]) == {"MainThread"}, f"burst {burst}: redraws ran on {now['drew_on']}"
        # the comm package runs the post_execute callbacks after each message, on the subshell's thread: the inline
        # backend's flush_figures there closed the figures the main thread was drawing (seen under load)
        assert now["closed_on"] == ["MainThread"], f"burst {burst}: figures were closed on {now['closed_on']}"
        assert _kinds(now["outputs"]) == [["display_data", "image/png", "text/plain"]], (
            f"burst {burst}: the widget holds {_kinds(now['outputs'])}")


@pytest.mark.slow
def test_in_a_kernel_figures_are_flushed_after_an_execution_on_the_main_thread_only(kernel):
    """The post_execute callbacks another thread runs (the comm package's, on a subshell) close no figure."""
    kernel.run("_fig = plt.figure()\n"
               "_other = threading.Thread(target=get_ipython().events.trigger, args=('post_execute',))\n"
               "_other.start(); _other.join()\n"
               "assert plt.fignum_exists(_fig.number), 'post_execute on another thread closed a figure'")
    kernel.run("assert not plt.fignum_exists(_fig.number), 'the cell that made it ended without closing it'")


def test_the_flush_on_the_main_thread_stands_where_the_inline_backend_looks_for_its_own():
    """``%matplotlib inline`` run again adds no second flush; another backend removes it (both by equality)."""
    import threading

    from IPython.core.events import EventManager, available_events
    from matplotlib_inline.backend_inline import flush_figures

    shell = type("Shell", (), {})()
    shell.events = EventManager(shell, available_events)
    shell.events.register("post_execute", flush_figures)
    sk.controls._pyplot_flushed_on_main_thread(shell)
    sk.controls._pyplot_flushed_on_main_thread(shell)  # a second control set changes nothing
    (flush,) = shell.events.callbacks["post_execute"]
    assert flush is not flush_figures and flush == flush_figures
    shell.events.register("post_execute", flush_figures)  # as %matplotlib inline does
    assert shell.events.callbacks["post_execute"] == [flush]
    called = []
    flush.flush = lambda: called.append(threading.current_thread().name)
    other = threading.Thread(target=shell.events.trigger, args=("post_execute",), name="subshell")
    other.start()
    other.join()
    shell.events.trigger("post_execute")
    assert called == ["MainThread"]
    flush.flush = flush_figures
    shell.events.unregister("post_execute", flush_figures)  # as switching to another backend does
    assert shell.events.callbacks["post_execute"] == []


@pytest.mark.slow
def test_in_a_kernel_a_figure_whose_png_fails_to_render_says_why_in_the_widget(kernel):
    """IPython catches an error in a formatter and reports it itself; the report belongs under the controls."""
    kernel.press("broken", True)
    now = kernel.settled()
    kinds = _kinds(now["outputs"])
    assert ["error"] in kinds, f"the widget holds {kinds}: no image and no reason"  # before: the figure's text alone
    error = next(o for o in now["outputs"] if o["output_type"] == "error")
    assert error["ename"] == "RuntimeError" and error["evalue"] == "this figure cannot be rendered"
    kernel.press("broken", False)
    now = kernel.settled()
    assert _kinds(now["outputs"]) == [["display_data", "image/png", "text/plain"]]  # the next draw is clean again


def test_only_the_drawing_thread_s_reported_errors_go_into_the_widget(monkeypatch):
    import threading

    import IPython

    class Shell:
        def __init__(self):
            self.display_pub = _Publisher()
            self.sent = []

        def _showtraceback(self, etype, evalue, stb):  # the kernel's: an iopub error message
            self.sent.append(str(evalue))

    shell = Shell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)

    def explore(seed=1):
        shell.display_pub.publish({"image/png": f"figure of seed {seed}", "text/plain": "<Figure>"})
        if seed == 2:  # as IPython reports a formatter's error, once from this draw and once from another thread
            shell._showtraceback(RuntimeError, RuntimeError("the PNG failed"), ["traceback"])
            other = threading.Thread(target=shell._showtraceback, args=(OSError, OSError("elsewhere"), ["tb"]))
            other.start()
            other.join()

    ui = sk.interact(explore, seed=(1, 5))
    ui.controls["seed"].value = 2
    figure, error = ui.widget.out.outputs
    assert figure["data"]["image/png"] == "figure of seed 2"
    assert (error["output_type"], error["ename"], error["evalue"]) == ("error", "RuntimeError", "the PNG failed")
    assert "reported" not in error  # simkit's own mark, not part of the output's format
    # a reported error is drawn again once; it came back, so it is shown. The other thread's error, raised in each
    # draw, went where it always went
    assert shell.sent == ["elsewhere", "elsewhere"]
    assert ui.widget._recovered == ["drawn again after RuntimeError: the PNG failed"]
    assert "_showtraceback" not in vars(shell)  # the shell's own method once the draw is over
    shell._showtraceback(ValueError, ValueError("after"), [])
    assert shell.sent == ["elsewhere", "elsewhere", "after"]


def _figures():
    """Three figures as lessons draw them: constrained layout, tight_layout(), and a legend past the edge."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
    for ax in axes:
        ax.plot(range(50), label="lag")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("constrained")
    yield "constrained", fig
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(range(50))
    ax.set_title("tight_layout")
    fig.tight_layout()
    yield "tight", fig
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(50), label="a legend label long enough to reach past the figure's right edge")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    yield "past_the_edge", fig


def test_a_redraw_s_figure_drawn_once_is_the_image_the_inline_backend_shows():
    import base64
    import io

    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np
    from IPython.core.pylabtools import print_figure
    from PIL import Image

    matplotlib.use("agg")

    def image(data):
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("L"), dtype=float)

    for name, fig in _figures():
        inline = image(print_figure(fig, fmt="png", base64=True, bbox_inches="tight"))
        width, height = fig.canvas.get_width_height(physical=True)
        if name == "past_the_edge":  # left to the inline backend, whose image is widened to show the legend
            assert sk.controls._png_drawn_once(fig) is None and inline.shape[1] > width + 50
            plt.close(fig)
            continue
        once = image(sk.controls._png_drawn_once(fig))
        if name == "constrained":  # sent whole: the figure's own size, which the inline crop differs from by its pad
            assert once.shape == (height, width)
            assert abs(inline.shape[0] - height) <= 2 * fig.dpi * 0.1 + 2
        else:  # cropped to the same contents
            assert abs(once.shape[0] - inline.shape[0]) <= 2 and abs(once.shape[1] - inline.shape[1]) <= 2, name
            rows, cols = min(once.shape[0], inline.shape[0]), min(once.shape[1], inline.shape[1])
            assert np.mean(np.abs(once[:rows, :cols] - inline[:rows, :cols]) > 64) < 0.01, name
        assert (once < 128).mean() > 0.005  # lines and text drawn, not a blank image
        plt.close(fig)


def test_while_a_redraw_runs_plain_png_figures_are_drawn_once_and_other_formats_are_left_alone():
    import functools

    import matplotlib
    import matplotlib.pyplot as plt
    from IPython.core.formatters import PNGFormatter
    from IPython.core.pylabtools import print_figure, retina_figure
    from matplotlib.figure import Figure

    matplotlib.use("agg")
    fig, ax = plt.subplots(layout="constrained")
    ax.plot(range(5))
    for printer, swapped in [(functools.partial(print_figure, fmt="png", base64=True, bbox_inches="tight"), True),
                             (functools.partial(retina_figure, base64=True, bbox_inches="tight"), False)]:
        formatter = PNGFormatter()
        formatter.for_type(Figure, printer)
        shell = type("Shell", (), {})()
        shell.display_formatter = type("Formatters", (), {"formatters": {"image/png": formatter}})()
        with sk.controls._figures_drawn_once(shell):
            assert (formatter.type_printers[Figure] is not printer) is swapped
            assert formatter(fig) == (sk.controls._png_drawn_once(fig) if swapped else printer(fig))
        assert formatter.type_printers[Figure] is printer  # put back after the redraw
    plt.close(fig)
    # once a control set's figure reaches past its edges, its later figures go straight to the inline backend
    printer = functools.partial(print_figure, fmt="png", base64=True, bbox_inches="tight")
    formatter.for_type(Figure, printer)
    ui = type("UI", (), {})()
    _, (_, fits), (_, past) = list(_figures())
    with sk.controls._figures_drawn_once(shell, ui):
        assert formatter(fits) == sk.controls._png_drawn_once(fits)
        assert not getattr(ui, "_reaches_past_edges", False)
        assert formatter(past) == printer(past)
        assert ui._reaches_past_edges
    with sk.controls._figures_drawn_once(shell, ui):
        assert formatter(fits) == printer(fits)  # the inline backend's image now, not the one-pass one
    plt.close("all")
