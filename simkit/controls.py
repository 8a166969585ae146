"""Interactive controls for the lessons: the one way a notebook puts sliders and menus on a simulation.

``interact(explore, crash_rate=(0.0, 0.3, 0.01), design=["a", "b"])`` takes the same widget abbreviations as
:func:`ipywidgets.interact` and draws ``explore`` once with its defaults. It differs in three ways:

- sliders redraw when they are *released*, not at every step of a drag (``continuous_update=False``), so one
  move of a control costs one simulation;
- every draw, the first one included, puts its figure into the control set's Output widget as the widget's
  state, so the figure is under its controls whatever order the browser builds the widgets in;
- if the first draw fails, the cell fails with that error (``ipywidgets`` would only print a traceback into the
  widget, where a headless run of the notebook cannot see it); a later bad value chosen by the learner shows
  simkit's one-line message (``ConfigError: crash_rate=...``) instead of a traceback;
- every redraw runs on the kernel's main thread, where cells run, even when JupyterLab sends the control's
  change over a subshell that ipykernel handles on another thread (pyplot is not thread-safe), and the inline
  backend's closing of all figures after a widget message runs only there too;
- changes that arrive from the browser while a redraw runs collapse into one redraw of the latest values (three
  quick key presses on a slider cost one more simulation, not three), so the readout and the figure agree as
  soon as the kernel is idle again; a change made by code in a cell still redraws at once;
- an error that IPython catches and reports itself while showing a figure (its PNG failed to render) is shown in
  the widget under the controls, instead of going where the browser shows it nowhere;
- a redraw that ends without an error but shows nothing, where the widget showed a figure, keeps that figure
  and says under it which values drew nothing (``drawn`` keeps the figure's values), instead of an empty widget;
- a redraw whose figure comes out without its image (its PNG raised, or only its ``<Figure size ...>`` text was
  shown) draws once more from the start, and keeps what went wrong in ``_recovered`` for tests to report;
- a redraw's figure is drawn once and cropped to its contents (:func:`_png_drawn_once`), where the inline
  backend would lay it out and measure it in one pass and draw it in a second; a figure whose contents reach
  past its edges goes through the inline backend, which widens the image to show them (and so, from then on,
  do that control set's figures);
- every control set is kept in :data:`REGISTRY`, so ``benchmarks/notebooks.py`` can move each control and time
  the redraw, exactly as a learner's click would run it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

from .errors import SimkitError

__all__ = ["REGISTRY", "Coalescer", "Controls", "interact"]

#: Every :class:`Controls` built by :func:`interact` in this kernel, oldest first.
REGISTRY: list[Controls] = []


class Coalescer:
    """Turns a burst of redraw requests into one redraw of whatever the controls say when it runs.

    ``request()`` asks for a redraw; ``schedule(run)`` decides when ``run`` happens. Requests made before the
    scheduled redraw has started are absorbed by it, because ``draw`` reads the controls' values only when it
    runs, never the values of the request. ``draws`` counts the redraws that actually ran.
    """

    def __init__(self, draw: Callable[[], Any], schedule: Callable[[Callable[[], None]], Any]):
        self._draw = draw
        self._schedule = schedule
        self._queued = False
        self.draws = 0

    def request(self, change: Any = None) -> None:
        """Ask for a redraw; if one is already waiting to run, it will show this change too."""
        if self._queued:
            return
        self._queued = True
        self._schedule(self._run)

    def _run(self) -> None:
        self._queued = False  # a change arriving during the draw queues one more redraw, of its latest value
        self.draws += 1
        self._draw()


def _from_browser() -> bool:
    """True while the kernel handles a message from the browser (a control moved), not a cell being run."""
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None or not hasattr(kernel, "get_parent"):  # plain Python or pytest: nothing to wait for
        return False
    return kernel.get_parent("shell").get("header", {}).get("msg_type") == "comm_msg"


#: zlib level of a redraw's PNG: level 1 encodes several times faster than the default 6, for a file somewhat
#: larger, which goes to the browser on the same machine.
PNG_COMPRESS_LEVEL = 1


def _png_drawn_once(fig: Any) -> str | None:
    """``fig`` as a base64 PNG drawn in one pass, or None to leave it to the inline backend.

    The inline backend saves a figure with ``bbox_inches="tight"``, which draws it twice: one pass with drawing
    switched off, to lay it out and measure its contents, then a full pass, cropped to them with
    ``savefig.pad_inches`` to spare. Here the figure is drawn once, its contents are measured in that pass's
    renderer, and the image is cropped to them (to the figure's edge where the margin would reach past it, so
    only background is left out). A figure with constrained layout, which fits its contents inside its own
    edges, is sent whole without measuring. A figure whose contents reach outside its own edges (a legend beside
    the axes of a figure with no layout) returns None, after its one pass: the inline backend widens the image
    to show all of it.
    """
    import binascii
    import io
    import math

    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from PIL import Image

    if not isinstance(fig.canvas, FigureCanvasAgg):
        return None
    if not fig.axes and not fig.lines:  # as the inline backend does: nothing to show
        return None
    fig.canvas.draw()  # runs the layout engine if there is one, then draws, once
    width, height = fig.canvas.get_width_height(physical=True)
    image = Image.frombuffer("RGBA", (width, height), fig.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    if isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        # laid out to fit inside the figure's own edges: measuring again would only trim a few pixels of margin
        image.save(buffer, format="png", compress_level=PNG_COMPRESS_LEVEL)
        return binascii.b2a_base64(buffer.getvalue(), newline=False).decode("ascii")
    dpi = fig.dpi
    box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches, measured with the renderer just used
    pad = mpl.rcParams["savefig.pad_inches"]
    if pad == "layout" or not isinstance(pad, int | float):
        pad = 0.1
    if box.x0 < 0 or box.y0 < 0 or box.x1 * dpi > width + 0.5 or box.y1 * dpi > height + 0.5:
        return None  # something reaches past the figure's edges: the inline backend widens the image to show it
    left, right = max(0, math.floor((box.x0 - pad) * dpi)), min(width, math.ceil((box.x1 + pad) * dpi))
    top, bottom = max(0, height - math.ceil((box.y1 + pad) * dpi)), min(height, height - math.floor((box.y0 - pad) * dpi))
    image.crop((left, top, right, bottom)).save(buffer, format="png", compress_level=PNG_COMPRESS_LEVEL)
    return binascii.b2a_base64(buffer.getvalue(), newline=False).decode("ascii")


@contextlib.contextmanager
def _figures_drawn_once(shell: Any, ui: Any = None):
    """While inside, figures shown as plain PNG (the inline backend's default) are drawn by :func:`_png_drawn_once`.

    Once a figure of ``ui``'s function has reached past its edges, the function's later figures go straight to
    the inline backend: they are drawn the same way every time, and that one pass would be wasted on each.
    Any other figure format the learner chose (``retina``, ``svg``, other ``print_figure_kwargs``) is left as
    it is.
    """
    from IPython.core.pylabtools import print_figure
    from matplotlib.figure import Figure

    formatter = getattr(getattr(shell, "display_formatter", None), "formatters", {}).get("image/png")
    inline = formatter.type_printers.get(Figure) if formatter is not None else None
    plain = (isinstance(inline, functools.partial) and inline.func is print_figure and not inline.args
             and inline.keywords == {"fmt": "png", "base64": True, "bbox_inches": "tight"})
    if not plain:
        yield
        return

    def png(fig):
        if getattr(ui, "_reaches_past_edges", False) or (not fig.axes and not fig.lines):
            return inline(fig)  # (nothing to show: the inline backend's answer, without marking the control set)
        try:
            drawn = _png_drawn_once(fig)
        except Exception as exc:  # noqa: BLE001  the inline backend draws it again from the start; its error is shown
            _recovered(ui, f"drawn by the inline backend after {type(exc).__name__}: {exc}")
            return inline(fig)
        if drawn is None:
            if ui is not None:
                ui._reaches_past_edges = True
            return inline(fig)
        return drawn

    formatter.for_type(Figure, png)
    try:
        yield
    finally:
        formatter.for_type(Figure, inline)


def _redraw(ui: Any) -> None:
    """Draw ``ui``'s function with its controls' values now and put what it shows into its output area.

    The outputs are collected here and handed to the Output widget as a whole, instead of being routed through
    the message that moved the control (as ``ipywidgets.interactive.update`` does): a redraw that was deferred
    runs after that message is finished, when the browser no longer files outputs under it.

    A draw whose figure came out without its image (the PNG failed to render and IPython reported it, or only
    the figure's text was shown) is drawn once more, from the start: the lessons are deterministic, so the second
    draw is the same figure. Each such retry is kept in ``ui._recovered`` with what went wrong, so a test or an
    instructor can see that it happened (issue 14: seen in a loaded CI browser run, cause not yet found). A
    failure the second draw repeats is shown, as it is.
    """
    before = dict(getattr(ui, "kwargs", None) or {})
    ui.kwargs = {w._kwarg: w.get_interact_value() for w in ui.kwargs_widgets}
    text, shown, failure = _draw_once(ui)
    if _figure_without_image(shown, failure):
        _recovered(ui, "drawn again after " + _what_went_wrong(shown, failure))
        text, shown, failure = _draw_once(ui)
    failure = [{k: v for k, v in o.items() if k != "reported"} for o in failure]
    stream = [{"output_type": "stream", "name": "stdout", "text": text}] if text else []
    outputs = stream + shown + failure
    figure = [o for o in ui.out.outputs if o.get("output_type") == "display_data"]
    if not outputs and figure:
        # The draw ended without an error but showed nothing, where the previous draw showed a figure (issue 14:
        # seen once in a browser, cause not yet found). An empty widget tells the learner nothing; keep the
        # figure, say which values it is from, and keep ``drawn`` saying so too.
        values = ", ".join(f"{k}={v!r}" for k, v in ui.kwargs.items())
        ui.kwargs = before
        outputs = figure + [{"output_type": "stream", "name": "stdout",
                             "text": f"Drawing with {values} showed no figure; the figure above is from the "
                                     "values before. Move a control again to redraw.\n"}]
    ui.out.outputs = tuple(outputs)


def _recovered(ui: Any, what: str) -> None:
    """Keep ``what`` (the last five) in ``ui._recovered``: a trouble a redraw got past, for tests to report."""
    if ui is not None:
        ui._recovered = [*getattr(ui, "_recovered", []), what][-5:]


#: The text IPython shows for a matplotlib figure (its ``text/plain``), which alone means its image is missing.
_FIGURE_TEXT = "<Figure size "


def _figure_without_image(shown: list[dict], failure: list[dict]) -> bool:
    """True if a figure was shown by its text alone, or IPython reported an error while showing it."""
    texts = [o for o in shown if set(o.get("data", {})) == {"text/plain"}
             and str(o["data"]["text/plain"]).startswith(_FIGURE_TEXT)]
    reported = [o for o in failure if o.get("reported")]
    return bool(texts or reported)


def _what_went_wrong(shown: list[dict], failure: list[dict]) -> str:
    reported = [f"{o['ename']}: {o['evalue']}" for o in failure if o.get("reported")]
    return "; ".join(reported) or "a figure shown by its text alone: " + next(
        str(o["data"]["text/plain"]) for o in shown if set(o.get("data", {})) == {"text/plain"})


def _draw_once(ui: Any) -> tuple[str, list[dict], list[dict]]:
    """Call ``ui``'s function with ``ui.kwargs``; return what it printed, the figures it showed and its errors.

    An error IPython reports itself while showing a figure is marked ``reported`` (it is not the lesson's code
    failing but the figure's image), which :func:`_redraw` drops before the widget gets it.
    """
    import io
    import threading
    import traceback

    from IPython import get_ipython
    from ipywidgets.widgets.interaction import show_inline_matplotlib_plots

    shown: list[dict] = []

    def keep(msg):  # a figure or other rich output: keep it for the widget instead of sending it
        if msg.get("msg_type") != "display_data":
            return msg
        shown.append({"output_type": "display_data", **{k: msg["content"][k] for k in ("data", "metadata")}})
        return None

    failure: list[dict] = []
    shell = get_ipython()
    drawing = threading.get_ident()

    def report(etype, evalue, stb):  # an error IPython reports itself, such as a figure whose PNG failed to render
        if threading.get_ident() != drawing:  # another thread's error is not this draw's: send it as before
            return (own or functools.partial(type(shell)._showtraceback, shell))(etype, evalue, stb)
        failure.append({"output_type": "error", "ename": etype.__name__, "evalue": str(evalue), "traceback": stb,
                        "reported": True})
        return None

    publisher = getattr(shell, "display_pub", None)
    hooks = hasattr(publisher, "register_hook")
    if hooks:
        publisher.register_hook(keep)
    # IPython's display catches an error in a formatter (the PNG of a figure) and shows it with
    # ``shell._showtraceback``, the method IPython provides for sending tracebacks elsewhere. The kernel's own sends
    # an ``error`` message filed under the message it handled last (the one that moved the control), which no output
    # area in the browser shows: the widget held the figure's text alone ("<Figure size ...>"), no image, no reason.
    own = vars(shell).get("_showtraceback") if hooks else None
    if hooks:
        shell._showtraceback = report
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed, _figures_drawn_once(shell, ui):
            try:
                ui.result = ui.f(**ui.kwargs)
                show_inline_matplotlib_plots()
            except Exception as exc:  # noqa: BLE001  the lesson's code is wrong: show it in the widget, as ipywidgets does
                failure.append({"output_type": "error", "ename": type(exc).__name__, "evalue": str(exc),
                                "traceback": traceback.format_exception(exc)})
    finally:
        if hooks:
            publisher.unregister_hook(keep)
            if own is None:
                del shell._showtraceback  # the shell's own method again
            else:
                shell._showtraceback = own
    return printed.getvalue(), shown, failure


def _after_pending_messages(run: Callable[[], None], main_loop: Any = None) -> None:
    """Run ``run`` once the kernel has taken the messages already waiting, or at once outside a kernel.

    A change that arrives on a thread other than the main one is handed to ``main_loop`` (the kernel's own event
    loop, on the main thread), and drawn there. JupyterLab 4.4 and later send widget messages over a kernel
    subshell (its ``commsOverSubshells`` setting, "perCommTarget" by default), which ipykernel 7 handles on a
    thread of its own, while the main thread goes on running cells. Matplotlib's pyplot is not safe to use from
    two threads: the inline backend's ``flush_figures``, run after every execution on the main thread (the
    browser's own silent requests included), closed the figure a redraw was drawing, and the redraw's image came
    out as the figure's text alone (CI, stop 20). On the main thread a redraw runs between two cells, never inside
    one.
    """
    import asyncio
    import threading

    if main_loop is not None and threading.current_thread() is not threading.main_thread():
        try:
            main_loop.call_soon_threadsafe(run)
            return
        except RuntimeError:  # the kernel's loop is closed (it is shutting down): draw here, as before
            pass
    if not _from_browser():
        run()
        return
    asyncio.get_running_loop().call_soon(run)


class _FlushFiguresOnMainThread:
    """The inline backend's ``flush_figures``, run only on the kernel's main thread.

    It compares equal to ``flush_figures`` itself, so that the inline backend, which registers and unregisters
    that function by equality (IPython's ``EventManager``), finds it in its place: ``%matplotlib inline`` run
    again adds no second flush, and switching to another backend removes this one.
    """

    def __init__(self, flush: Callable[[], Any]) -> None:
        self.flush = flush

    def __call__(self) -> Any:
        import threading

        if threading.current_thread() is threading.main_thread():
            return self.flush()
        return None

    def __eq__(self, other: object) -> bool:
        return other is self or other == self.flush

    def __hash__(self) -> int:
        return hash(self.flush)


def _pyplot_flushed_on_main_thread(shell: Any) -> None:
    """Have ``shell``'s inline backend show and close figures after an execution on the main thread only.

    The inline backend runs ``flush_figures`` after every execution: it shows every open pyplot figure and closes
    them all (``plt.close('all')``). The ``comm`` package runs the same ``post_execute`` callbacks after each widget
    message, and with JupyterLab's ``commsOverSubshells`` that message is handled on a subshell's thread: there
    ``flush_figures`` closed the figures the main thread was drawing at that moment (a redraw handed to it, or a
    cell), and the redraw's PNG failed on a canvas reset to ``FigureCanvasBase`` (``no attribute
    'buffer_rgba'``; seen in the browser test under load, after redraws were moved to the main thread). Figures
    left open by code on another thread are shown after the main thread's next execution instead.
    """
    try:
        from matplotlib_inline.backend_inline import flush_figures
    except ImportError:  # no inline backend installed: nothing flushes figures after an execution
        return
    callbacks = getattr(getattr(shell, "events", None), "callbacks", {}).get("post_execute", [])
    for i, callback in enumerate(callbacks):
        if callback is flush_figures:
            callbacks[i] = _FlushFiguresOnMainThread(flush_figures)


def _kernel_loop() -> Any:
    """The event loop running on the main thread now (a kernel's, when called from a cell), or None."""
    import asyncio
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # plain Python, pytest: no loop, nothing to hand redraws to
        return None


class Controls:
    """What :func:`interact` returns: the control set, already on screen.

    ``widget`` is the ``ipywidgets.interactive`` box; ``controls`` maps each keyword to its widget, so a cell
    can set one (``c.controls["seed"].value = 3``) and the figure redraws. ``drawn`` holds the values the
    figure on screen was drawn with and ``redraws`` how many redraws ran after the first draw. As the last line
    of a cell it shows nothing more: the controls are already displayed once, above.
    """

    def __init__(self, widget: Any, coalescer: Coalescer | None = None):
        self.widget = widget
        self.controls = {w._kwarg: w for w in widget.kwargs_widgets}
        self._coalescer = coalescer

    @property
    def drawn(self) -> dict:
        """The control values of the figure now on screen (ipywidgets keeps the last call's keywords)."""
        return dict(self.widget.kwargs)

    @property
    def redraws(self) -> int:
        """How many redraws ran since the first draw."""
        return self._coalescer.draws if self._coalescer else 0

    def _ipython_display_(self) -> None:
        pass  # already displayed by interact(); showing it again would draw a second, linked copy

    def __repr__(self) -> str:
        return f"Controls({', '.join(self.controls)})"


def interact(fn: Callable[..., Any], **controls: Any) -> Controls:
    """Show ``fn`` with one control per keyword and redraw it whenever a control is changed."""
    import ipywidgets as widgets
    from IPython import get_ipython
    from IPython.display import display

    _pyplot_flushed_on_main_thread(get_ipython())
    failed: list[BaseException] = []

    @functools.wraps(fn)
    def redraw(**kwargs):
        try:
            return fn(**kwargs)
        except SimkitError as exc:  # a value the learner chose: say what is allowed, no traceback
            failed.append(exc)
            print(f"{type(exc).__name__}: {exc}")
            return None
        except BaseException as exc:
            failed.append(exc)
            raise

    class Interactive(widgets.interactive):
        # Every draw, the first included, hands its outputs to the Output widget as its state. ipywidgets' own
        # first draw (``with self.out:``) leaves the routing to the browser, which files the figure under the
        # widget only once the Output model is registered: in a loaded browser the figure could land in the
        # cell's output instead, beside an empty widget, until the first redraw.
        def update(self, *args):
            _redraw(self)

    ui = Interactive(redraw, **controls)  # draws once, with the defaults
    if failed:
        raise failed[0]
    coalescer = Coalescer(functools.partial(_redraw, ui),
                          functools.partial(_after_pending_messages, main_loop=_kernel_loop()))
    for control in ui.kwargs_widgets:
        if hasattr(control, "continuous_update"):
            control.continuous_update = False
        control.unobserve(ui.update, names="value")  # ipywidgets would redraw once per change
        control.observe(coalescer.request, names="value")
    display(ui)
    REGISTRY.append(Controls(ui, coalescer))
    return REGISTRY[-1]
