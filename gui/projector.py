"""Projector mode: the studio made readable from the back of a classroom, with one switch.

View > Projector mode (F5 or Ctrl+Shift+P) scales every font by `FONT_SCALE`, draws the plots'
lines thick and their points large (`theme.PROJECTOR_LOOK`, handed to each view's ``set_look``),
colours the app with assets/theme/projector.json (black on white, dark saturated lines) and
maximises one view: the setup column and the other views are hidden (F6 cycles through the views,
Ctrl+1..Ctrl+9 picks one, Ctrl+0 shows them all). Leaving it puts back the fonts, palette and
splitter sizes exactly as they were. Keyboard shortcuts drive a run in either mode (`COMMANDS`),
and presentation clickers' PageDown/PageUp turn the lessons. Whether the mode is on, and which
view it maximised, are remembered across restarts (QSettings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QFont, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMainWindow,
    QMenu,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.lesson_views.history import settings

FONT_SCALE = theme.PROJECTOR_LOOK.font_scale
SETTING_ON = "projector/on"
SETTING_VIEW = "projector/view"  # the name of the view projector mode maximises ("" for none)
NOT_MAXIMISED = ("setup",)  # views that are never maximised: the setup form is no view of a run
PROJECTOR_KEYS = ("F5", "Ctrl+Shift+P")
NEXT_VIEW_KEY = "F6"
ALL_VIEWS_KEY = "Ctrl+0"
VIEW_KEYS = 9  # Ctrl+1 .. Ctrl+9 maximise the first nine views


@dataclass(frozen=True)
class Command:
    """A run or lesson command bound to keys: what it says in menus, its keys (the first is the
    one menus show), and the button whose tooltip names them (empty: none)."""

    name: str
    text: str
    keys: tuple[str, ...]
    button: str = ""


COMMANDS = (
    Command("start", "Start", ("Ctrl+Return", "Ctrl+Enter"), "start_button"),
    Command("pause", "Pause / Resume", ("Ctrl+Space", "Space"), "pause_button"),
    Command("step", "Step one batch (when paused)", ("Ctrl+Right", "S"), "step_button"),
    Command("stop", "Stop", ("Ctrl+.",), "stop_button"),
    Command("next_lesson", "Next lesson", ("PgDown",)),
    Command("previous_lesson", "Previous lesson", ("PgUp",)),
)


def key_text(keys: tuple[str, ...]) -> str:
    """Keys as menus and tooltips show them: "Ctrl+Space or Space"."""
    return " or ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in keys)


class RunKeys(QObject):
    """The run and lesson commands of `COMMANDS` as actions of ``window`` (a Run menu): each does
    what its button does, and only when the button would (Step only while paused)."""

    def __init__(self, window: QMainWindow, turned: Callable[[], None] = lambda: None):
        """``turned``: called after a lesson key turned the lesson."""
        super().__init__(window)
        self.window = window
        self.turned = turned
        self.actions: dict[str, QAction] = {}
        menu = _menu(window, "&Run")
        for command in COMMANDS:
            action = QAction(command.text, window)
            action.setShortcuts([QKeySequence(k) for k in command.keys])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setToolTip(f"{command.text} ({key_text(command.keys)})")
            action.triggered.connect(getattr(self, command.name))
            menu.addAction(action)
            window.addAction(action)  # its keys work while the menu bar is hidden too
            self.actions[command.name] = action
            if command.button:
                _name_keys_in_tooltip(getattr(window, command.button), command)

    def start(self) -> None:
        self.window.start_training()  # which starts only when idle

    def pause(self) -> None:
        if self.window.state in ("running", "paused"):
            self.window._on_pause_clicked()

    def step(self) -> None:
        if self.window.state == "paused":
            self.window.bridge.step_once()

    def stop(self) -> None:
        if self.window.state in ("running", "paused"):
            self.window._on_stop_clicked()

    def next_lesson(self) -> None:
        self._lesson("next_lesson")

    def previous_lesson(self) -> None:
        self._lesson("previous_lesson")

    def _lesson(self, method: str) -> None:
        """Turn the lesson, looked up when pressed: windows without lessons say so instead."""
        turn = getattr(self.window, method, None)
        if callable(turn):
            turn()
            self.turned()
        else:
            self.window.statusBar().showMessage("this window has no lessons to turn")


@dataclass(frozen=True)
class LayoutState:
    """What maximising changes: the window's size, every splitter's sizes, every tab widget's tab."""

    window_size: QSize
    sizes: tuple[tuple[QSplitter, list[int]], ...]
    tabs: tuple[tuple[QTabWidget, int], ...]


class Layout:
    """One view maximised inside ``window``: every splitter sibling on its way up to the central
    widget hidden, and its tab brought forward; `restore` shows them again with the sizes of before."""

    def __init__(self, window: QMainWindow):
        self.window = window
        self._hidden: list[QWidget] = []
        self.before: LayoutState | None = None  # the layout before the first view was maximised

    @property
    def maximised(self) -> bool:
        return self.before is not None

    def snapshot(self) -> LayoutState:
        return LayoutState(self.window.size(),
                           tuple((s, s.sizes()) for s in self.window.findChildren(QSplitter)),
                           tuple((t, t.currentIndex()) for t in self.window.findChildren(QTabWidget)))

    def maximise(self, view: QWidget) -> None:
        """Hide what is not on ``view``'s way up; a view maximised already is shown again (the
        layout of before is kept from the first)."""
        if self.before is None:
            self.before = self.snapshot()
        self._show_hidden()
        child, parent = view, view.parentWidget()
        while parent is not None and child is not self.window.centralWidget():
            if isinstance(parent, QSplitter):
                for sibling in (parent.widget(i) for i in range(parent.count())):
                    if sibling is not child and not sibling.isHidden():
                        sibling.hide()
                        self._hidden.append(sibling)
            elif isinstance(parent, QStackedWidget) and isinstance(parent.parentWidget(), QTabWidget):
                parent.parentWidget().setCurrentWidget(child)
            child, parent = parent, parent.parentWidget()
        self._fit_screen()

    def _fit_screen(self) -> None:
        """A window the full layout made wider or taller than its screen fits it again, now that
        one view needs less room (a 1280x800 projector)."""
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        screen = self.window.screen().availableGeometry()
        size = self.window.size()
        if size.width() > screen.width() or size.height() > screen.height():
            self.window.resize(min(size.width(), screen.width()), min(size.height(), screen.height()))

    def restore(self, state: LayoutState | None = None) -> None:
        """Every view shown, with the sizes and tabs of ``state`` (default: of before the first maximise)."""
        self._show_hidden()
        state = state or self.before
        self.before = None
        if state is None:
            return
        for _ in range(2):  # laid out (the views shown, at their fonts), then the outer splitters' sizes laid out
            QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
            if not self.window.windowState() & (Qt.WindowState.WindowMaximized | Qt.WindowState.WindowFullScreen):
                self.window.resize(state.window_size)  # fitted to a screen, or grown for large fonts
            for splitter, sizes in state.sizes:
                splitter.setSizes(sizes)
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        for tabs, index in state.tabs:  # last: a splitter in a hidden tab would keep its maximised sizes
            tabs.setCurrentIndex(index)

    def _show_hidden(self) -> None:
        for widget in self._hidden:
            widget.show()
        self._hidden = []


class Projector(QObject):
    """Projector mode of ``window`` (see the module's docstring): the View menu's switch and view
    keys, the Run menu's keys, Help > Keyboard shortcuts, and the remembered settings."""

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.window = window
        self.keys = RunKeys(window, turned=self.follow_lesson)
        self.layout = Layout(window)
        self.maximised: str | None = None  # the name of the view maximised, if one is
        self._normal: tuple[QFont, tuple[QPalette, str]] | None = None  # the app's font and colours
        self._normal_layout: LayoutState | None = None  # ... and the window's layout, in normal mode
        view = _menu(window, "&View")
        self.action = view.addAction("Projector mode")
        self.action.setCheckable(True)
        self.action.setShortcuts([QKeySequence(k) for k in PROJECTOR_KEYS])
        self.action.setToolTip(f"large text, thick lines, high contrast, one view ({key_text(PROJECTOR_KEYS)})")
        self.action.toggled.connect(self.set_enabled)
        window.addAction(self.action)  # its keys work while the menu bar is hidden too
        view.addAction(_action(window, "Maximise the next view", (NEXT_VIEW_KEY,), self.next_view))
        view.addAction(_action(window, "Show all views", (ALL_VIEWS_KEY,), lambda: self.maximise(None)))
        self.view_menu = view.addMenu("Maximise")
        self.view_menu.aboutToShow.connect(self._list_views)
        for number in range(1, VIEW_KEYS + 1):  # bound now; which view each picks is looked up when pressed
            window.addAction(_action(window, f"view {number}", (f"Ctrl+{number}",),
                                     lambda _checked=False, n=number: self._maximise_number(n)))
        _menu(window, "&Help").addAction("Keyboard shortcuts…", self.show_shortcuts)
        self._when_shown: Callable[[], None] | None = None
        if _settings().value(SETTING_ON, False, type=bool):  # once the window shows its normal layout
            self._when_shown = lambda: self.set_enabled(True)
            window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        """The remembered projector mode comes on once the window is on screen and laid out:
        leaving it then puts back that layout, not the one of a window still being built."""
        if watched is self.window and event.type() == QEvent.Type.Show and self._when_shown is not None:
            QTimer.singleShot(0, self._when_shown)
            self._when_shown = None
            self.window.removeEventFilter(self)
        return False

    @property
    def enabled(self) -> bool:
        return self._normal is not None

    def set_enabled(self, on: bool) -> None:
        """Projector mode on or off (remembered); off puts back exactly the look and layout of before."""
        if on != self.action.isChecked():
            self.action.setChecked(on)  # comes back here through the toggled signal
            return
        if on == self.enabled:
            return
        app = QApplication.instance()
        if on:
            self._normal_layout = self.layout.before or self.layout.snapshot()
            self._normal = (QFont(app.font()), theme.app_colours(app))
            _set_app_font(app, _scaled(app.font(), FONT_SCALE))
            theme.apply_palette(app, theme.PROJECTOR_PALETTE)
            self._set_look(theme.PROJECTOR_LOOK)
            self.maximise(_settings().value(SETTING_VIEW, "curves", type=str) or None, remember=False)
        else:  # the normal fonts first: the layout of before may not fit this window with large ones
            font, colours = self._normal
            self._normal = None
            _set_app_font(app, font)  # before the stylesheet, which keeps the font each widget has when it is set
            theme.restore_colours(app, colours)
            self._set_look(theme.NORMAL_LOOK)
            self.layout.restore(self._normal_layout)
            self.maximised = None
        _settings().setValue(SETTING_ON, on)

    def views(self) -> dict[str, QWidget]:
        """The views that can be maximised, by name, in the window's order; hidden tabs (the GAN
        playground without a toy GAN) are left out."""
        found = self.window.view_widgets
        if hasattr(self.window, "lesson_panel"):  # the open lesson: its formulas and live values, large
            found = {**found, "lesson": self.window.lesson_panel}
        return {name: widget for name, widget in found.items() if name not in NOT_MAXIMISED and _offered(widget)}

    def follow_lesson(self) -> None:
        """In projector mode, maximise the first view the open lesson names (after a lesson key)."""
        lesson = getattr(self.window, "lesson", None)
        views = self.views()
        first = next((name for name in getattr(lesson, "views", ()) if name in views), None)
        if self.enabled and first is not None:
            self.maximise(first)

    def maximise(self, name: str | None, remember: bool = True) -> None:
        """Let view ``name`` fill the window (None: every view as normal, with the sizes of before)."""
        widget = self.views().get(name) if name else None
        if widget is None:
            self.layout.restore()
            self.maximised = None
        else:
            self.layout.maximise(widget)
            self.maximised = name
        if remember:
            _settings().setValue(SETTING_VIEW, self.maximised or "")

    def next_view(self) -> None:
        """Maximise the view after the one maximised (the first if none), and all views after the last."""
        names = list(self.views())
        after = names.index(self.maximised) + 1 if self.maximised in names else 0
        self.maximise(names[after] if after < len(names) else None)

    def _maximise_number(self, number: int) -> None:
        names = list(self.views())
        if number <= len(names):
            self.maximise(names[number - 1])

    def _list_views(self) -> None:
        """The Maximise submenu: every view with its key, the one maximised checked."""
        self.view_menu.clear()
        for number, name in enumerate(self.views(), 1):
            action = self.view_menu.addAction(name, lambda _checked=False, n=name: self.maximise(n))
            action.setCheckable(True)
            action.setChecked(name == self.maximised)
            if number <= VIEW_KEYS:  # the key is shown; the window's own action is bound to it
                action.setText(f"{name}\tCtrl+{number}")

    def _set_look(self, look: theme.Look) -> None:
        """Each view draws itself in ``look`` (a view made of others hands it on to them)."""
        for widget in self.window.view_widgets.values():
            if callable(getattr(widget, "set_look", None)):
                widget.set_look(look)

    def shortcuts(self) -> list[tuple[str, str]]:
        """(what, keys) of every keyboard shortcut this adds, as the Help dialog lists them."""
        listed = [(c.text, key_text(c.keys)) for c in COMMANDS]
        listed += [("Projector mode on / off", key_text(PROJECTOR_KEYS)),
                   ("Maximise the next view", key_text((NEXT_VIEW_KEY,)))]
        listed += [(f"Maximise {name}", key_text((f"Ctrl+{number}",)))
                   for number, name in enumerate(list(self.views())[:VIEW_KEYS], 1)]
        return [*listed, ("Show all views", key_text((ALL_VIEWS_KEY,)))]

    def show_shortcuts(self) -> QDialog:
        """Help > Keyboard shortcuts: a table of `shortcuts` (Space pauses unless a text field has the focus)."""
        rows = "".join(f"<tr><td>{what}</td><td>&nbsp;&nbsp;<b>{keys}</b></td></tr>" for what, keys in self.shortcuts())
        dialog = QDialog(self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one left hidden per opening otherwise
        dialog.setWindowTitle("Keyboard shortcuts")
        layout = QVBoxLayout(dialog)
        layout.addWidget(QLabel(f"<table>{rows}</table><p>Space pauses unless a text field or number "
                                "has the focus; Ctrl+Space always does.</p>"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout.addWidget(buttons)
        dialog.show()
        return dialog


def install(window: QMainWindow) -> Projector:
    """Give ``window`` projector mode, its keys and menus (as ``window.projector``); it starts in
    projector mode when it was on when the app last closed."""
    window.projector = Projector(window)
    return window.projector


def _settings() -> QSettings:
    """The studio's settings store, the lessons' history's (tests point it at a temporary folder)."""
    return settings()


def _menu(window: QMainWindow, title: str) -> QMenu:
    """The window's menu called ``title``, made if there is none yet."""
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == title.replace("&", ""):
            return action.menu()
    return window.menuBar().addMenu(title)


def _action(window: QMainWindow, text: str, keys: tuple[str, ...], slot) -> QAction:
    action = QAction(text, window)
    action.setShortcuts([QKeySequence(k) for k in keys])
    action.triggered.connect(slot)
    window.addAction(action)
    return action


def _name_keys_in_tooltip(button: QWidget, command: Command) -> None:
    tip = button.toolTip()
    button.setToolTip(f"{tip} ({key_text(command.keys)})" if tip else f"{command.text} ({key_text(command.keys)})")


def _offered(widget: QWidget) -> bool:
    """False for a view in a hidden tab."""
    stack = widget.parentWidget()
    tabs = stack.parentWidget() if isinstance(stack, QStackedWidget) else None
    return not isinstance(tabs, QTabWidget) or tabs.isTabVisible(tabs.indexOf(widget))


def _set_app_font(app: QApplication, font: QFont) -> None:
    """The app's font, on every widget now: Qt passes a new app font on to the widgets only once
    its event loop runs (not yet while the first window is built, nor in tests)."""
    app.setFont(font)
    for widget in app.topLevelWidgets():
        QApplication.sendEvent(widget, QEvent(QEvent.Type.ApplicationFontChange))


def _scaled(font: QFont, scale: float) -> QFont:
    scaled = QFont(font)
    if font.pointSizeF() > 0:
        scaled.setPointSizeF(font.pointSizeF() * scale)
    else:
        scaled.setPixelSize(round(font.pixelSize() * scale))
    return scaled
