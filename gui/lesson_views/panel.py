"""The open lesson: its title and slides, the explanation, each formula typeset with the live
value of its metric beside it, the lesson's runs (choose one, Start it) and its "try this" steps,
each a button that changes the run and starts it, with what to look for while it trains."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.lesson_views.formula_label import FormulaLabel
from kgen.lessons import Formula, Lesson, TryStep

VALUES_MS = 250  # the live values are redrawn at most this often, never per step event


def slides_text(slides: tuple[int, ...]) -> str:
    """"slide 7" or "slides 11, 16"."""
    return ("slide " if len(slides) == 1 else "slides ") + ", ".join(str(s) for s in slides)


def _label(text: str = "", role: str | None = None, *, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    theme.set_role(label, role)
    return label


class FormulaRow(QWidget):
    """A typeset formula over its caption, with the live value of its metric at the caption's right
    (the formula keeps the panel's whole width, and never moves as the value changes)."""

    def __init__(self, formula: Formula, parent=None):
        super().__init__(parent)
        self.formula = formula
        self.picture = FormulaLabel(formula.tex, waiting=formula.caption)
        self.value = QLabel()  # "kl = 3.214" while a run reports its metric
        font = QFont(self.value.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.value.setFont(font)
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.value.setVisible(formula.metric is not None)
        if formula.metric:
            self.value.setToolTip(f"the latest training step's {formula.metric}")
            self.value.setText(f"{formula.metric} = –")
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.addWidget(self.picture, 0, 0, 1, 2)
        layout.addWidget(_label(formula.caption, "muted"), 1, 0)
        layout.addWidget(self.value, 1, 1)
        layout.setColumnStretch(0, 1)

    def show_value(self, metrics: dict) -> None:
        name = self.formula.metric
        if name is not None and isinstance(metrics.get(name), (int, float)):
            self.value.setText(f"{name} = {metrics[name]:.4g}")


class LessonPanel(QWidget):
    """One lesson, open. It asks the window to act through its signals; it never trains itself."""

    start_requested = Signal(str)  # the name of the lesson's run to start
    try_requested = Signal(int)  # the index of the "try this" step clicked
    run_chosen = Signal(str)  # the run chosen in the list (the window shows its prepared run, if any)
    back_requested = Signal()
    previous_requested = Signal()
    next_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.lesson: Lesson | None = None
        self.rows: list[FormulaRow] = []
        self.try_buttons: list[QPushButton] = []
        self._metrics: dict | None = None
        self._values_timer = QTimer(self)
        self._values_timer.setSingleShot(True)
        self._values_timer.setInterval(VALUES_MS)
        self._values_timer.timeout.connect(self._show_values)

        self.back_button = QPushButton("◀ All lessons")
        self.previous_button = QPushButton("Previous")
        self.next_button = QPushButton("Next")
        self.title = _label()
        font = QFont(self.title.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.5)
        self.title.setFont(font)
        self.slides = _label(role="muted")
        self.explanation = _label()
        self.explanation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.formulas = QVBoxLayout()
        self.run_choice = QComboBox()
        self.start_button = QPushButton("Start this run")
        self.start_button.setToolTip("put this run's settings in the Setup tab and train it")
        self.tries = QVBoxLayout()
        self.look_for = _label(role="hint")
        self.look_for.setVisible(False)
        self.seconds = _label(role="muted")
        self._lay_out()
        self.back_button.clicked.connect(self.back_requested)
        self.previous_button.clicked.connect(self.previous_requested)
        self.next_button.clicked.connect(self.next_requested)
        self.start_button.clicked.connect(lambda: self.start_requested.emit(self.run_choice.currentText()))
        self.run_choice.currentTextChanged.connect(self._on_run_chosen)

    def _lay_out(self) -> None:
        content = QWidget()
        body = QVBoxLayout(content)
        nav = QHBoxLayout()
        for button in (self.back_button, self.previous_button, self.next_button):
            nav.addWidget(button)
        nav.addStretch(1)
        body.addLayout(nav)
        for widget in (self.title, self.slides, self.explanation):
            body.addWidget(widget)
        body.addLayout(self.formulas)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        body.addWidget(line)
        runs = QHBoxLayout()
        runs.addWidget(QLabel("run"))
        runs.addWidget(self.run_choice, 1)
        runs.addWidget(self.start_button)
        body.addLayout(runs)
        body.addWidget(self.seconds)
        body.addWidget(_label("Try this:"))
        body.addLayout(self.tries)
        body.addWidget(self.look_for)
        body.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def show_lesson(self, lesson: Lesson) -> None:
        """Fill the panel with ``lesson`` (its formulas start rendering in the background)."""
        self.lesson = lesson
        self.title.setText(lesson.title)
        self.slides.setText(slides_text(lesson.slides).capitalize())
        paragraphs = [" ".join(p.split()) for p in lesson.explanation.split("\n\n")]
        self.explanation.setText("\n\n".join(p for p in paragraphs if p))
        self._fill_formulas(lesson)
        self.run_choice.blockSignals(True)
        self.run_choice.clear()
        self.run_choice.addItems([run.name for run in lesson.runs])
        self.run_choice.blockSignals(False)
        self.run_choice.setEnabled(len(lesson.runs) > 1)
        self.seconds.setText(f"about {lesson.seconds} s to its point on 2 CPU cores" if lesson.seconds else "")
        self.seconds.setVisible(bool(lesson.seconds))
        self._fill_tries(lesson.tries)
        self.show_look_for(None)

    def _fill_formulas(self, lesson: Lesson) -> None:
        for row in self.rows:
            self.formulas.removeWidget(row)
            row.deleteLater()
        self.rows = [FormulaRow(formula) for formula in lesson.formulas]
        for row in self.rows:
            self.formulas.addWidget(row)
        self._metrics = None

    def _fill_tries(self, tries: tuple[TryStep, ...]) -> None:
        for button in self.try_buttons:
            self.tries.removeWidget(button)
            button.deleteLater()
        self.try_buttons = []
        for index, step in enumerate(tries):
            button = QPushButton(step.label)
            button.setToolTip(f"changes {', '.join(f'{k} = {v}' for k, v in step.change.items())} "
                              f"of the run {step.run!r}, then starts it")
            button.clicked.connect(lambda _=False, i=index: self.try_requested.emit(i))
            self.tries.addWidget(button)
            self.try_buttons.append(button)

    def set_running(self, running: bool) -> None:
        """While a run trains, Start and the try steps wait for it to end."""
        for button in (self.start_button, *self.try_buttons):
            button.setEnabled(not running)

    def show_look_for(self, step: TryStep | None) -> None:
        """What to look for in the run ``step`` started (None: nothing)."""
        self.look_for.setText(f"<b>Look for:</b> {step.look_for}" if step else "")
        self.look_for.setVisible(step is not None)

    def add_step(self, event) -> None:
        """A step event of the run on screen: its metrics show beside their formulas a few times a
        second (the latest wins)."""
        self._metrics = event["metrics"]
        if not self._values_timer.isActive():
            self._values_timer.start()

    def clear_values(self) -> None:
        self._metrics = None
        for row in self.rows:
            if row.formula.metric:
                row.value.setText(f"{row.formula.metric} = –")

    def _show_values(self) -> None:
        metrics, self._metrics = self._metrics, None
        if metrics is not None:
            for row in self.rows:
                row.show_value(metrics)

    def _on_run_chosen(self, name: str) -> None:
        if name:
            self.run_chosen.emit(name)
