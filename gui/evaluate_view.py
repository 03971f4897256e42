"""The Evaluate tab: runs `kgen.services.commands.evaluate_run` in a child process and shows its
table, for models that bound log p(x) the bound over k (IWAE-k against k, the ELBO at k = 1), and
when asked the truncation sweep (precision, recall and FID of samples from psi * z against psi)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.bound_curve import BoundCurvePlot
from gui.truncation_plot import TruncationPlot
from kgen import registry
from kgen.errors import KgenError
from kgen.eval.descriptions import explanation
from kgen.eval.truncation import DEFAULT_PSIS
from kgen.runs import Run
from kgen.services.jobs import BackgroundJob, ProcessJob

POLL_MS = 100
CURVE_LARGEST = (10, 20, 50, 100, 200, 500, 1000)  # the largest k the tab offers for the bound over k
DEFAULT_CURVE = 100


def bounds_log_p(run_dir: Path) -> bool:
    """True when the run's model bounds log p(x) (its registry entry scores the likelihood); read from
    its config.json in a thread when the run is chosen, never on the click that evaluates it."""
    try:
        return "likelihood" in registry.spec(Run.open(run_dir).config().train.model).scores
    except KgenError:  # not a run: the evaluation says so itself
        return False


class EvaluateView(QWidget):
    """Pick a run (the latest one by default), choose IWAE k and a test limit, Evaluate."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.scores: dict[str, float] = {}
        self._job: ProcessJob | None = None
        self._bounded: bool | None = None  # whether the chosen run's model bounds log p(x); None while read
        self._reading: BackgroundJob | None = None
        self.run_label = QLabel("no run yet: train one or choose a run folder")
        self.choose_button = QPushButton("Choose run…")
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setEnabled(False)
        self.iwae_k = QSpinBox()
        self.iwae_k.setRange(0, 100_000)
        self.iwae_k.setValue(100)
        self.iwae_k.setToolTip("importance samples per test image for IWAE (VAEs; 0 skips it)")
        self.limit = QSpinBox()
        self.limit.setRange(0, 1_000_000)
        self.limit.setValue(1000)
        self.limit.setSpecialValueText("all")
        self.limit.setToolTip("evaluate on the first this many test images (0: all)")
        self.curve_k = QComboBox()
        self.curve_k.addItems(["off", *map(str, CURVE_LARGEST)])
        self.curve_k.setCurrentText(str(DEFAULT_CURVE))
        self.curve_k.setToolTip("the bound over k: IWAE-k for k = 1, 2, 5, 10, ... up to this, on the test images "
                                "(models that bound log p(x))")
        self.sweep = QCheckBox(f"psi = {', '.join(f'{p:g}' for p in DEFAULT_PSIS)}")
        self.sweep.setToolTip("sample from psi * z for each psi and score precision, recall and FID of each "
                              "against the test images: realism traded for variety")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("stop the evaluation going on")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel()
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["score", "value"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self._row_height = self.table.verticalHeader().defaultSectionSize()  # in the normal look

        row = QHBoxLayout()
        row.addWidget(self.run_label, 1)
        row.addWidget(self.choose_button)
        form = QFormLayout()
        form.addRow("IWAE k", self.iwae_k)
        form.addRow("test images", self.limit)
        form.addRow("bound over k up to", self.curve_k)
        form.addRow("truncation sweep", self.sweep)
        buttons = QHBoxLayout()
        buttons.addWidget(self.evaluate_button, 1)
        buttons.addWidget(self.cancel_button)
        self.curve_plot = BoundCurvePlot()
        self.curve_note = QLabel("bars: ± 1 standard error of the mean over the test images. Every k scores the "
                                 "same images with the same draws, so the rise with k is far surer than the bars.")
        self.curve_note.setWordWrap(True)
        theme.set_role(self.curve_note, "muted")
        curve_box = QWidget()
        curve_layout = QVBoxLayout(curve_box)
        curve_layout.setContentsMargins(0, 0, 0, 0)
        curve_layout.addWidget(self.curve_plot, 1)
        curve_layout.addWidget(self.curve_note)
        self.curve_box = curve_box
        curve_box.setVisible(False)  # until an evaluation brings a curve
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(curve_box)
        self.sweep_plot = TruncationPlot()
        self.sweep_plot.setVisible(False)  # until an evaluation brings a sweep
        self.splitter.addWidget(self.sweep_plot)
        self.splitter.setSizes([350, 650, 650])
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.splitter, 1)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.choose_button.clicked.connect(self._choose)
        self.evaluate_button.clicked.connect(self.evaluate)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)

    def set_look(self, look: theme.Look) -> None:
        """Fit the table to ``look``'s text (projector mode: the app's font grows): taller rows, and
        the score names' column as wide as its names; the normal look puts back the normal sizes."""
        self.table.verticalHeader().setDefaultSectionSize(round(self._row_height * look.font_scale))
        if self.table.rowCount():
            self.table.resizeColumnToContents(0)
        self.curve_plot.set_look(look)
        self.sweep_plot.set_look(look)

    @property
    def busy(self) -> bool:
        return self._job is not None

    def set_run(self, run_dir: str | os.PathLike) -> None:
        """Choose the run; Evaluate is offered once a thread has read whether its model bounds log p(x)
        (a run chosen again keeps what was read of it: its config does not change)."""
        if Path(run_dir) == self.run_dir and (self._bounded is not None or self._reading is not None):
            return
        self.run_dir = Path(run_dir)
        self.run_label.setText(str(self.run_dir))
        self._bounded = None
        self._reading = BackgroundJob(bounds_log_p, self.run_dir, name="kgen-run-config").start()
        self.evaluate_button.setEnabled(False)
        self._timer.start()

    def evaluate(self) -> None:
        """Evaluate the chosen run in a child process; the table fills in when it is done."""
        if self.run_dir is None or self.busy or self._bounded is None:
            return
        limit = self.limit.value() or None
        curve = int(self.curve_k.currentText()) if self.curve_k.currentText().isdigit() else 0
        if not self._bounded:
            curve = 0  # a GAN or an autoencoder has no bound on log p(x) to draw
        truncation = DEFAULT_PSIS if self.sweep.isChecked() else ()
        self._job = ProcessJob.reporting("kgen.services.commands:evaluate_run", self.run_dir, k=self.iwae_k.value(),
                                         limit=limit, curve=curve, truncation=truncation).start()
        parts = [name for name, on in (("bound over k", curve), ("truncation sweep", truncation)) if on]
        self.progress.setFormat(" and ".join(parts) + ": %p%")
        self._set_busy(True, progress=bool(curve or truncation))
        self.status.setText(f"evaluating {self.run_dir.name}… (a classifier is trained once per dataset)")
        self._timer.start()

    def cancel(self) -> None:
        """End an evaluation still going (the Cancel button, or the window closes)."""
        if self._job is not None:
            self._job.cancel()
            self._job = None
            self._set_busy(False)

    def _on_cancel_clicked(self) -> None:
        self.cancel()
        self.status.setText("evaluation cancelled")

    def _set_busy(self, busy: bool, progress: bool = False) -> None:
        self.evaluate_button.setEnabled(not busy and self._bounded is not None)
        self.choose_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setValue(0)
        self.progress.setVisible(busy and progress)

    def _poll(self) -> None:
        reading, job = self._reading, self._job
        if reading is not None and reading.done:
            self._reading = None
            self._bounded = reading.error is None and reading.result()
            self.evaluate_button.setEnabled(not self.busy)
        if job is not None and job.done:
            self._job = None
            self._show_result(job)
        elif job is not None and job.progress is not None:
            self.progress.setValue(round(100 * job.progress))
        if self._job is None and self._reading is None:
            self._timer.stop()

    def _show_result(self, job: ProcessJob) -> None:
        """The finished evaluation: its error, or its table and plots."""
        self._set_busy(False)
        if job.error is not None:
            self.status.setText(f"error: {job.error}")
            return
        self.scores = dict(job.result())
        self.status.setText(f"{len(self.scores)} scores for {self.run_dir}; also appended to its events.jsonl")
        self.table.setRowCount(len(self.scores))
        for i, (name, value) in enumerate(self.scores.items()):
            key = QTableWidgetItem(name)
            key.setToolTip(explanation(name))
            self.table.setItem(i, 0, key)
            self.table.setItem(i, 1, QTableWidgetItem(f"{value:.5g}"))
        self.table.resizeColumnToContents(0)
        self.curve_box.setVisible(self.curve_plot.show_scores(self.scores))
        self.sweep_plot.setVisible(self.sweep_plot.show_scores(self.scores))

    def _choose(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a run folder", str(self.run_dir or "runs"))
        if path:
            self.set_run(path)
