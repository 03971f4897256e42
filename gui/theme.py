"""The app's look in one place: the palette and stylesheet of assets/theme/ and the icon of
assets/icons/, read as package data (``importlib.resources``), so an installed app finds them."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication, QWidget

ICON_NAME = "kgen-studio"  # the icon's file and the desktop launcher's name (assets/kgen-studio.desktop)
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)
ROLE = "role"  # the widget property style.qss selects on
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?")
_PLACEHOLDER = re.compile(r"@([a-z_]+[0-9]?)")
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
AXIS_POINTS = 9.0  # axis text, scaled by a look's font scale (the normal look keeps pyqtgraph's)


class ThemeError(ValueError):
    """A theme file that does not say what gui/theme.py needs (a one-line message)."""


@dataclass(frozen=True)
class Palette:
    """Every colour of the app by role, '#rrggbb' or '#rrggbbaa' (assets/theme/palette.json)."""

    window: str
    base: str
    alternate_base: str
    button: str
    text: str
    disabled_text: str
    border: str
    accent: str
    accent_text: str
    tooltip: str
    muted: str  # secondary text: notes, captions
    hint: str  # the curves' hover values
    error: str
    error_background: str
    alert: str  # collapsed latent dimensions and their warning
    live: str  # a followed run that is writing
    waiting: str  # a followed run that is quiet, or not started
    plot_background: str
    plot_ink: str  # outlines and letters drawn on a plot
    plot_overlay: str  # legends and labels drawn over a plot
    plot_guide: str  # the hover line
    legend_border: str
    marker: str  # event markers on the curves (a resume, a change of settings)
    marker_label: str
    kl_active: str
    kl_collapsed: str
    real: str  # the playground's data points
    fake: str  # the playground's generated points
    arrow: str
    heat: tuple[str, str, str]  # D(x) = 0, 0.5, 1 in the playground
    density: tuple[str, ...]  # low to high density, sequential (the playground's mesh of G)
    series: tuple[str, ...]  # curves, runs and classes, in this order

    @classmethod
    def from_json(cls, text: str, source: str = "palette.json") -> Palette:
        """A palette from the text of ``source`` (palette.json, projector.json): every field, each
        a colour (ThemeError naming ``source`` otherwise)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ThemeError(f"{source} is not JSON: {err}") from None
        names = [f.name for f in dataclasses.fields(cls)]
        missing, unknown = set(names) - set(data), set(data) - set(names)
        if missing or unknown:
            raise ThemeError(f"{source}: missing {sorted(missing)}, unknown {sorted(unknown)}")
        values = {name: tuple(data[name]) if isinstance(data[name], list) else data[name] for name in names}
        for name, value in values.items():
            for colour in value if isinstance(value, tuple) else (value,):
                if not isinstance(colour, str) or not _COLOUR.fullmatch(colour):
                    raise ThemeError(f"{source}: {name} must be '#rrggbb' colours, got {colour!r}")
        if len(values["heat"]) != 3 or len(values["density"]) != 4 or not values["series"]:
            raise ThemeError(f"{source}: heat takes 3 colours, density 4 and series at least one")
        return cls(**values)


def _theme_file(name: str) -> str:
    return (files("assets") / "theme" / name).read_text(encoding="utf-8")


PALETTE = Palette.from_json(_theme_file("palette.json"))
# Projector mode's colours: black on white, dark saturated lines (gui/projector.py, tests/test_projector.py).
PROJECTOR_PALETTE = Palette.from_json(_theme_file("projector.json"), "projector.json")


@dataclass(frozen=True)
class Look:
    """How the views draw: their colours, and how much thicker, larger and bolder than normal
    (projector mode scales them up for the back of a classroom). Views take it in ``set_look``."""

    palette: Palette = PALETTE
    line_scale: float = 1.0  # pen widths
    point_scale: float = 1.0  # scatter points and symbols
    font_scale: float = 1.0  # plot titles, axis ticks and labels, legends
    strong_axes: bool = False  # axes, titles and their text in plot_ink (else axes in pyqtgraph's grey, titles in text)
    side_by_side: bool = False  # pictures beside each other (samples beside reconstructions), each larger

    @property
    def title_colour(self) -> str:
        """The colour of plot titles and legend text: plot_ink with strong axes, else the palette's
        text (pyqtgraph's default grey is too pale to read on the white plots)."""
        return self.palette.plot_ink if self.strong_axes else self.palette.text

    def width(self, pixels: float) -> float:
        """A pen ``pixels`` wide in the normal look, in this one."""
        return pixels * self.line_scale

    def points(self, size: float) -> float:
        """A symbol ``size`` pixels across in the normal look, in this one."""
        return size * self.point_scale

    def size(self, points: float) -> str:
        """A font size of ``points`` in the normal look, as pyqtgraph's HTML takes it ("16pt")."""
        return f"{points * self.font_scale:g}pt"


NORMAL_LOOK = Look()
PROJECTOR_LOOK = Look(PROJECTOR_PALETTE, line_scale=2.0, point_scale=1.6, font_scale=1.6, strong_axes=True,
                      side_by_side=True)


def stylesheet(palette: Palette = PALETTE, template: str | None = None) -> str:
    """style.qss (or ``template``) with each @name replaced by that colour of ``palette`` (and
    its comments left out)."""
    def colour(match: re.Match) -> str:
        name = match.group(1)
        series = re.fullmatch(r"series(\d)", name)  # @series0 ... @series9: the curves' colours
        value = palette.series[int(series.group(1))] if series else getattr(palette, name, None)
        if not isinstance(value, str):
            raise ThemeError(f"style.qss: @{match.group(1)} is not a colour of palette.json")
        return value

    text = _theme_file("style.qss") if template is None else template
    return _PLACEHOLDER.sub(colour, _COMMENT.sub("", text)).strip() + "\n"


def qt_palette(palette: Palette = PALETTE) -> QPalette:
    """Qt's palette of the app's colours (on the Fusion style, the same on every desktop)."""
    qt = QPalette()
    roles = {
        QPalette.ColorRole.Window: palette.window, QPalette.ColorRole.Base: palette.base,
        QPalette.ColorRole.AlternateBase: palette.alternate_base, QPalette.ColorRole.Button: palette.button,
        QPalette.ColorRole.WindowText: palette.text, QPalette.ColorRole.Text: palette.text,
        QPalette.ColorRole.ButtonText: palette.text, QPalette.ColorRole.ToolTipBase: palette.tooltip,
        QPalette.ColorRole.ToolTipText: palette.text, QPalette.ColorRole.Highlight: palette.accent,
        QPalette.ColorRole.HighlightedText: palette.accent_text, QPalette.ColorRole.Link: palette.accent,
        QPalette.ColorRole.PlaceholderText: palette.disabled_text,
    }
    for role, colour in roles.items():
        qt.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        qt.setColor(QPalette.ColorGroup.Disabled, role, QColor(palette.disabled_text))
    return qt


@cache
def icon() -> QIcon:
    """The app icon, drawn from assets/icons/kgen-studio.svg at the usual sizes."""
    renderer = QSvgRenderer(QByteArray((files("assets") / "icons" / f"{ICON_NAME}.svg").read_bytes()))
    if not renderer.isValid():
        raise ThemeError(f"assets/icons/{ICON_NAME}.svg is not a picture Qt can draw")
    drawn = QIcon()
    for size in ICON_SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        drawn.addPixmap(pixmap)
    return drawn


def translucent(colour: str, alpha: int) -> QColor:
    """``colour`` with its opacity set to ``alpha`` (0-255), for points drawn over each other."""
    drawn = QColor(colour)
    drawn.setAlpha(alpha)
    return drawn


def apply(app: QApplication) -> None:
    """Give the whole app its look: Fusion style, the palette, the stylesheet and the icon."""
    app.setStyle("Fusion")
    apply_palette(app)
    app.setWindowIcon(icon())


def apply_palette(app: QApplication, palette: Palette = PALETTE) -> None:
    """Colour every widget of the app with ``palette`` (Qt's palette and the stylesheet)."""
    app.setPalette(qt_palette(palette))
    app.setStyleSheet(stylesheet(palette))


def app_colours(app: QApplication) -> tuple[QPalette, str]:
    """The app's colours as they are now (Qt's palette and the stylesheet), for `restore_colours`."""
    return QPalette(app.palette()), app.styleSheet()


def restore_colours(app: QApplication, colours: tuple[QPalette, str]) -> None:
    """Put back colours `app_colours` kept (projector mode switched off)."""
    app.setPalette(colours[0])
    app.setStyleSheet(colours[1])


def style_axes(plot: pg.PlotItem, look: Look) -> None:
    """Draw ``plot``'s axes in ``look``: tick text and axis labels scaled by its font scale, the
    axes in plot_ink when it asks for strong axes (pyqtgraph's default font and grey otherwise)."""
    for name in ("left", "bottom", "right", "top"):
        style_axis(plot.getAxis(name), look)


def style_axis(axis: pg.AxisItem, look: Look) -> None:
    """One axis in ``look`` (see `style_axes`)."""
    ink = (look.palette.plot_ink,) if look.strong_axes else ()  # no colour: pyqtgraph's default
    axis.setTickFont(plot_font(look) if look.font_scale != 1.0 else None)
    axis.setPen(*ink)
    axis.setTextPen(*ink)
    axis.labelStyle = {"font-size": look.size(AXIS_POINTS)} if look.font_scale != 1.0 else {}
    if look.strong_axes:
        axis.labelStyle["color"] = look.palette.plot_ink
    axis.setLabel(axis.labelText, axis.labelUnits, axis.labelUnitPrefix)  # again, in the new style


def style_legend(legend: pg.LegendItem, look: Look, points: float = 9.0) -> None:
    """``legend`` in ``look``: its labels ``points`` large (scaled) in the title colour, on
    the palette's overlay and border; labels added later follow."""
    legend.opts.update(labelTextSize=look.size(points), labelTextColor=look.title_colour)
    for _, label in legend.items:  # drawn again, in the new size and colour
        label.setText(label.text, size=look.size(points), color=look.title_colour)
    legend.setBrush(pg.mkBrush(look.palette.plot_overlay))
    legend.setPen(pg.mkPen(look.palette.legend_border))


def plot_font(look: Look) -> QFont:
    """The font of text drawn on plots (ticks, labels over lines): the app's, or AXIS_POINTS
    scaled by the look's font scale."""
    font = QFont()
    if look.font_scale != 1.0:
        font.setPointSizeF(AXIS_POINTS * look.font_scale)
    return font


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2's contrast ratio of two '#rrggbb' colours: 1 (the same) to 21 (black on white);
    text wants 4.5, and 7 for the enhanced level a washed-out projector needs."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _luminance(colour: str) -> float:
    """WCAG 2's relative luminance of a '#rrggbb' colour (any alpha left out)."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(int(colour[i:i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def set_role(widget: QWidget, role: str | None) -> None:
    """Style ``widget`` as style.qss's ``role`` (None: plain); redrawn at once if it changed."""
    if widget.property(ROLE) == role:
        return
    widget.setProperty(ROLE, role)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
