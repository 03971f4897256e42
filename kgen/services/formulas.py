"""A lesson's formulas typeset as pictures: matplotlib's mathtext drawn by its Agg renderer into
an RGBA array, offline, with no pyplot and no Qt.

matplotlib is imported on the first render, never at the app's start (it costs a few hundred
milliseconds); an interface calls `render` from a background thread (kgen.services.jobs.
BackgroundJob) and shows the formula's text until the picture arrives. Renders are cached by
(formula, size, colour, dpi) and serialised by kgen.lessons.MATHTEXT_LOCK (mathtext's parser is
not thread-safe, and the lesson loader parses formulas too).
"""

from __future__ import annotations

import functools

import numpy as np

from kgen.errors import KgenError
from kgen.lessons import MATHTEXT_LOCK

DEFAULT_SIZE = 16.0  # points
DEFAULT_DPI = 100.0
PADDING = 2  # transparent pixels around the formula, so no descender is clipped
CACHE_SIZE = 256  # rendered formulas kept (each a few tens of KiB)

class FormulaError(KgenError):
    """A formula mathtext cannot typeset: one line saying why."""


def render(tex: str, size: float = DEFAULT_SIZE, color: str = "#000000", dpi: float = DEFAULT_DPI) -> np.ndarray:
    """``tex`` (mathtext, between $ signs) as a read-only (H, W, 4) uint8 RGBA picture on a
    transparent background, ``size`` points high at ``dpi``; FormulaError if it does not parse.
    Holds kgen.lessons.MATHTEXT_LOCK while it renders (mathtext is not thread-safe)."""
    if not isinstance(tex, str) or tex.count("$") < 2:
        raise FormulaError(f"a formula needs its mathematics between $ signs, got {tex!r}")
    with MATHTEXT_LOCK:
        return _render(tex, float(size), color, float(dpi))


def cache_info() -> functools._CacheInfo:
    """Hits and misses of the render cache (tests, benchmarks)."""
    return _render.cache_info()


@functools.lru_cache(maxsize=CACHE_SIZE)
def _render(tex: str, size: float, color: str, dpi: float) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    prop = FontProperties(size=size)
    try:
        width, height, depth, _, _ = MathTextParser("path").parse(tex, dpi=72, prop=prop)
    except ValueError as err:
        reason = " ".join(str(err).split())
        raise FormulaError(f"cannot typeset {tex!r}: {reason}") from None
    pad = PADDING / dpi  # inches
    figure = Figure(figsize=(width / 72 + 2 * pad, height / 72 + 2 * pad), dpi=dpi)
    figure.patch.set_alpha(0.0)
    total = height / 72 + 2 * pad
    figure.text(pad / (width / 72 + 2 * pad), (depth / 72 + pad) / total, tex, fontproperties=prop, color=color)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    picture = np.array(canvas.buffer_rgba(), dtype=np.uint8)
    picture.setflags(write=False)  # shared by every caller of the cache
    return picture
