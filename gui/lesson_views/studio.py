"""The lessons wired into the studio's window: the browser, the open lesson's panel, its runs and
"try this" steps, the Lessons menu and class packs. Kept apart so that the window stays about runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QSplitter, QTabWidget, QWidget

from gui.lesson_views.browser import LessonBrowser
from gui.lesson_views.history import LessonHistory
from gui.lesson_views.panel import LessonPanel
from gui.side_by_side_view import SideBySideView
from kgen.errors import KgenError
from kgen.lessons import Lesson, LessonError, TryStep

if TYPE_CHECKING:
    from gui.main_window import MainWindow

AFTER_RUN_VIEWS = ("latent", "evaluate", "posterior")  # views that need a finished run: a lesson's live views go first while it trains
VIEW_PAGES = {"posterior": "latent"}  # lesson views that are a page of another view (it has `show_page`)
LESSON_WIDTH = 470  # the left column's width while a lesson is open: its formulas need room
WIDE_VIEWS = {"side_by_side": 760}  # a lesson's first view that needs more room than the views' half: its width


class LessonDesk(QObject):
    """The window's lessons: owns the browser, the panel, the history and the Lessons menu, and
    drives the window only through its public parts (setup form, Start, Open run, views)."""

    def __init__(self, window: MainWindow, history: LessonHistory | None = None):
        """The Lessons and Lesson tabs over the setup form, and the Lessons menu. The lesson files
        are read when the browser is first shown (their formulas import matplotlib: not at start)."""
        super().__init__(window)
        self.window = window
        self.history = history if history is not None else LessonHistory()
        self.lesson: Lesson | None = None  # the open lesson
        self.pack = None  # a class pack with prepared runs (kgen lessons prepare), if one is open
        self.lessons: list[Lesson | LessonError] | None = None
        self._pending_lesson: Lesson | None = None  # the lesson whose run Start is about to train
        self._run_lesson: Lesson | None = None  # the lesson whose run trains now
        self._run_label = ""  # its name in the Compare view: the lesson's run, and the step tried
        self._run_name = ""  # the lesson's run it is (a step's run), whose side-by-side panel shows it
        self._run_config = None  # its config, and its folder once it started
        self._run_dir: str | None = None
        self._finished: dict[tuple[str, str], tuple] = {}  # (lesson, run) -> (run_dir, label, config) of its last run
        self.side_by_side = SideBySideView()  # a lesson's runs on a 2-D toy next to each other (view side_by_side)
        self.browser = LessonBrowser()
        self.panel = LessonPanel()
        self._add_tabs()
        self._connect_panel()
        self.lessons_menu = self._add_menus()

    def _add_tabs(self) -> None:
        tabs = self.window.left_tabs
        tabs.addTab(self.browser, "Lessons")
        tabs.addTab(self.panel, "Lesson")
        tabs.setTabVisible(tabs.indexOf(self.panel), False)
        tabs.currentChanged.connect(self._on_left_tab)
        self.browser.opened.connect(self.open_lesson)
        views = self.window.tabs
        views.addTab(self.side_by_side, "Side by side")
        views.setTabVisible(views.indexOf(self.side_by_side), False)  # shown by a lesson that names it
        self.window.view_widgets["side_by_side"] = self.side_by_side

    def _connect_panel(self) -> None:
        panel = self.panel
        panel.start_requested.connect(self.start_lesson_run)
        panel.try_requested.connect(lambda i: self.try_step(self.lesson.tries[i]))
        panel.run_chosen.connect(self._show_lesson_run)
        panel.back_requested.connect(self.show_browser)
        panel.previous_requested.connect(self.previous_lesson)
        panel.next_requested.connect(self.next_lesson)
        self.window.bridge.step.connect(panel.add_step)
        self.window.bridge.started.connect(self._on_run_started)
        self.window.monitor.step.connect(panel.add_step)

    def _add_menus(self):
        """File > Open class pack…, and the Lessons menu; returns its Open lesson submenu."""
        self.window.file_menu.addAction("Open class pack…", self._on_open_pack_clicked).setToolTip(
            "the lessons of a class pack (kgen lessons prepare DIR), with its prepared runs; nothing is written into it")
        menu = self.window.menuBar().addMenu("&Lessons")
        menu.addAction("Browse lessons", self.show_browser)
        lessons_menu = menu.addMenu("Open lesson")
        lessons_menu.aboutToShow.connect(self._fill_lessons_menu)
        menu.addAction("Next lesson", self.next_lesson)
        menu.addAction("Previous lesson", self.previous_lesson)
        return lessons_menu

    # The window's hooks: a run starts, the window's state changes, a run ends --------------

    def run_started(self) -> None:
        """Start trains now: the lesson that asked for the run (if any) owns it; old values go."""
        self._run_lesson, self._pending_lesson = self._pending_lesson, None
        self._run_dir = None
        self.panel.clear_values()

    def set_running(self, running: bool) -> None:
        self.panel.set_running(running)
        if not running and self._run_dir is not None:  # finished, stopped or failed: its panel stops following it
            self.side_by_side.run_ended(self._run_dir)

    def run_ended(self, event: dict) -> None:
        """A lesson's run that finished is remembered: its demo has run, its grid is its thumbnail."""
        lesson, self._run_lesson = self._run_lesson, None
        if lesson is not None and "side_by_side" in lesson.views:
            self._finished[lesson.name, self._run_name] = (event["run_dir"], self._run_label, self._run_config)
            self.side_by_side.run_ended(event["run_dir"], event["status"])
        if lesson is not None and event["status"] == "finished":
            self.history.mark_run(lesson, event["run_dir"])
            self._compare(lesson, event["run_dir"], self._run_label)
            self._refresh_browser()
            if lesson is self.lesson:
                self.bring_views_forward(lesson.views)  # the views of a finished run, now it has one

    # Listing and opening lessons -----------------------------------------------------------

    def show_browser(self) -> None:
        self.window.left_tabs.setCurrentWidget(self.browser)

    def show_lessons(self, lessons, pack=None) -> None:
        """List ``lessons`` (Lesson or LessonError items, in order) in the browser; ``pack``: a
        class pack whose prepared runs (``pack.prepared_run(lesson, run) -> Path | None``) the
        lessons open with."""
        self.lessons = list(lessons)
        self.pack = pack
        self._refresh_browser()
        self.show_browser()

    def open_class_pack(self, path: str | os.PathLike) -> bool:
        """List the lessons of the class pack at ``path`` with its prepared runs (read-only); a
        pack that cannot be opened is one line in the status bar. True when it opened."""
        from kgen.services.class_pack import open_pack

        try:
            pack = open_pack(path)
        except KgenError as err:
            self.window.statusBar().showMessage(f"cannot open the class pack: {err}")
            return False
        self.show_lessons(pack.lessons, pack)
        self.window.statusBar().showMessage(f"class pack {path}: {len(pack.lessons)} lessons")
        return True

    def _on_open_pack_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self.window, "Open a class pack")
        if path:
            self.open_class_pack(path)

    def lesson_list(self) -> list[Lesson]:
        """The browser's lessons, in order (the shipped ones unless `show_lessons` gave others)."""
        if self.lessons is None:
            from kgen.lessons import shipped

            self.lessons = shipped()
            self._refresh_browser()
        return [item for item in self.lessons if isinstance(item, Lesson)]

    def open_lesson(self, lesson_or_name: Lesson | str) -> None:
        """Open a lesson (or the browser's lesson of that name; LessonError if none): its panel,
        its first run in the setup form (or its prepared run followed) and its views in front."""
        lesson = self._find_lesson(lesson_or_name)
        self.lesson = lesson
        self.panel.show_lesson(lesson)
        tabs = self.window.left_tabs
        tab = tabs.indexOf(self.panel)
        tabs.setTabVisible(tab, True)
        tabs.setTabText(tab, f"Lesson: {lesson.name}")
        tabs.setCurrentWidget(self.panel)
        self.browser.select(lesson.name)
        splitter = self.window.splitter
        splitter.setSizes(_widened(splitter.sizes(), LESSON_WIDTH))
        self._show_lesson_run(lesson.runs[0].name)
        if "side_by_side" in lesson.views:
            self._fill_side_by_side(lesson)
        self.bring_views_forward(lesson.views)
        self._widen_views(WIDE_VIEWS.get(lesson.views[0], 0))
        self.window.statusBar().showMessage(f"lesson {lesson.name}: {lesson.title}")

    def next_lesson(self) -> None:
        self._step_lesson(+1)

    def previous_lesson(self) -> None:
        self._step_lesson(-1)

    def bring_views_forward(self, names) -> None:
        """Show the named views (kgen.lessons.VIEWS); the first named wins its place. A name
        without a widget here is skipped."""
        for name in reversed(list(names)):
            widget = self.window.view_widgets.get(VIEW_PAGES.get(name, name))
            tabs = _tab_widget_of(widget) if widget is not None else None
            if tabs is not None:
                tabs.setTabVisible(tabs.indexOf(widget), True)
                tabs.setCurrentWidget(widget)
            if name in VIEW_PAGES and widget is not None:
                widget.show_page(name)

    # The open lesson's runs and try steps --------------------------------------------------

    def start_lesson_run(self, run_name: str) -> None:
        """Train the open lesson's run ``run_name`` through the setup form and Start."""
        if self.lesson is None:
            return
        self._start_for_lesson(self.lesson.run(run_name).config, None, run_name, run_name)

    def try_step(self, step: TryStep) -> None:
        """Apply a "try this" step of the open lesson to its run, start it, and show what to look for."""
        if self.lesson is not None:
            changes = ", ".join(f"{name} {value}" for name, value in step.change.items())
            self._start_for_lesson(step.config(self.lesson), step, f"{step.run}: {changes}", step.run)

    def _start_for_lesson(self, config, step: TryStep | None, label: str, run_name: str) -> None:
        window = self.window
        if window.state == "monitoring":
            window.stop_following()  # a prepared run was on screen: Start trains live
        if window.state != "idle":
            window.statusBar().showMessage("stop the training before starting another run")
            return
        window.setup_panel.set_config(config)
        self._pending_lesson = self.lesson
        self._run_label, self._run_name = label, run_name
        self._run_config = config
        window.start_training()
        if window.state == "running":
            self.panel.show_look_for(step)
            self.bring_views_forward([v for v in self.lesson.views if v not in AFTER_RUN_VIEWS])
        self._pending_lesson = None

    def _show_lesson_run(self, run_name: str) -> None:
        """Set up the open lesson's run: its prepared run, followed, when a pack has one; else its
        settings in the setup form (nothing changes while a run trains here)."""
        if self.lesson is None or self.window.state not in ("idle", "monitoring"):
            return
        prepared = self.pack.prepared_run(self.lesson.name, run_name) if self.pack is not None else None
        if prepared is not None:
            self.window.open_run(prepared)
            self._compare(self.lesson, prepared, run_name)
            self.side_by_side.show_run(run_name, prepared, run_name)
            return
        self.window.stop_following()
        self.window.setup_panel.set_config(self.lesson.run(run_name).config)

    def _on_run_started(self, event) -> None:
        """A lesson's run began training: its side-by-side panel follows it live."""
        lesson = self._run_lesson
        self._run_dir = event["run_dir"]
        if lesson is not None and "side_by_side" in lesson.views:
            self.side_by_side.show_run(self._run_name, self._run_dir, self._run_label, self._run_config, live=True)

    def _widen_views(self, width: int) -> None:
        """The views' tabs at least ``width`` wide, taken from the curves beside them."""
        splitter = self.window.tabs.parentWidget()
        if width and isinstance(splitter, QSplitter) and splitter.indexOf(self.window.tabs) == 1:
            splitter.setSizes(_widened(splitter.sizes()[::-1], width)[::-1])

    def _fill_side_by_side(self, lesson: Lesson) -> None:
        """A panel for each of the lesson's runs, with its last run here (or its prepared run), if any."""
        self.side_by_side.set_runs([(run.name, run.config) for run in lesson.runs])
        for run in lesson.runs:
            prepared = self.pack.prepared_run(lesson.name, run.name) if self.pack is not None else None
            run_dir, label, config = self._finished.get((lesson.name, run.name), (prepared, run.name, None))
            if run_dir is not None:
                self.side_by_side.show_run(run.name, run_dir, label, config)
        if self._run_lesson is lesson and self._run_dir is not None:  # reopened while one of its runs trains
            self.side_by_side.show_run(self._run_name, self._run_dir, self._run_label, self._run_config, live=True)

    def _compare(self, lesson: Lesson, run_dir, label: str) -> None:
        """A lesson that shows the Compare view collects its runs there, as they finish or open."""
        if "compare" in lesson.views:
            self.window.compare_view.add_run(run_dir, label)

    def _find_lesson(self, lesson_or_name: Lesson | str) -> Lesson:
        if isinstance(lesson_or_name, Lesson):
            return lesson_or_name
        every = self.lesson_list()
        for lesson in every:
            if lesson.name == lesson_or_name:
                return lesson
        raise LessonError(f"no lesson named {lesson_or_name!r}; the lessons are {', '.join(x.name for x in every)}")

    def _step_lesson(self, by: int) -> None:
        every = self.lesson_list()
        if not every:
            return
        names = [lesson.name for lesson in every]
        at = names.index(self.lesson.name) + by if self.lesson is not None and self.lesson.name in names else 0
        if 0 <= at < len(every):
            self.open_lesson(every[at])
        else:
            self.window.statusBar().showMessage("this is the last lesson" if by > 0 else "this is the first lesson")

    # The browser and the menu --------------------------------------------------------------

    def _refresh_browser(self) -> None:
        self.browser.set_lessons(self.lessons or [], self.history.has_run, self._thumbnail_run)
        if self.lesson is not None:
            self.browser.select(self.lesson.name)

    def _thumbnail_run(self, lesson: Lesson) -> Path | None:
        """The run whose last grid is the lesson's thumbnail: its last run here, else a prepared one."""
        found = self.history.last_run(lesson)
        if found is None and self.pack is not None:
            found = next((p for p in (self.pack.prepared_run(lesson.name, r.name) for r in lesson.runs) if p), None)
        return found

    def _on_left_tab(self, index: int) -> None:
        if self.window.left_tabs.widget(index) is self.browser and self.lessons is None:
            self.lesson_list()

    def _fill_lessons_menu(self) -> None:
        self.lessons_menu.clear()
        for lesson in self.lesson_list():
            action = self.lessons_menu.addAction(f"{lesson.slides[0]:>2}. {lesson.title}")
            action.triggered.connect(lambda _=False, name=lesson.name: self.open_lesson(name))


def _widened(sizes: list[int], width: int) -> list[int]:
    """Splitter sizes with the first at least ``width``, taken from the second."""
    if len(sizes) < 2 or sizes[0] >= width:
        return sizes
    more = min(width - sizes[0], max(0, sizes[1] - 400))
    return [sizes[0] + more, sizes[1] - more, *sizes[2:]]


def _tab_widget_of(widget: QWidget) -> QTabWidget | None:
    """The tab widget ``widget`` is a page of, if it is one."""
    stack = widget.parentWidget()
    tabs = stack.parentWidget() if stack is not None else None
    return tabs if isinstance(tabs, QTabWidget) and tabs.indexOf(widget) >= 0 else None
