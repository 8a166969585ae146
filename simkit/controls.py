"""Interactive controls for the lessons: the one way a notebook puts sliders and menus on a simulation.

``interact(explore, crash_rate=(0.0, 0.3, 0.01), design=["a", "b"])`` takes the same widget abbreviations as
:func:`ipywidgets.interact` and draws ``explore`` once with its defaults. It differs in three ways:

- sliders redraw when they are *released*, not at every step of a drag (``continuous_update=False``), so one
  move of a control costs one simulation;
- if the first draw fails, the cell fails with that error (``ipywidgets`` would only print a traceback into the
  widget, where a headless run of the notebook cannot see it); a later bad value chosen by the learner shows
  simkit's one-line message (``ConfigError: crash_rate=...``) instead of a traceback;
- every control set is kept in :data:`REGISTRY`, so ``benchmarks/notebooks.py`` can move each control once and
  time the redraw, exactly as a learner's click would run it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .errors import SimkitError

#: Every ``ipywidgets.interactive`` built by :func:`interact` in this kernel, oldest first.
REGISTRY: list[Any] = []


class Controls:
    """What :func:`interact` returns: the control set, already on screen.

    ``widget`` is the ``ipywidgets.interactive`` box; ``controls`` maps each keyword to its widget, so a cell
    can set one (``c.controls["seed"].value = 3``) and the figure redraws. As the last line of a cell it shows
    nothing more: the controls are already displayed once, above.
    """

    def __init__(self, widget: Any):
        self.widget = widget
        self.controls = {w._kwarg: w for w in widget.kwargs_widgets}

    def _ipython_display_(self) -> None:
        pass  # already displayed by interact(); showing it again would draw a second, linked copy

    def __repr__(self) -> str:
        return f"Controls({', '.join(self.controls)})"


def interact(fn: Callable[..., Any], **controls: Any) -> Controls:
    """Show ``fn`` with one control per keyword and redraw it whenever a control is changed."""
    import ipywidgets as widgets
    from IPython.display import display

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

    ui = widgets.interactive(redraw, **controls)  # draws once, with the defaults
    if failed:
        raise failed[0]
    for control in ui.kwargs_widgets:
        if hasattr(control, "continuous_update"):
            control.continuous_update = False
    display(ui)
    REGISTRY.append(ui)
    return Controls(ui)
