"""The Evaluate tab: runs `kgen.services.commands.evaluate_run` in a child process and shows its table."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from kgen.eval.descriptions import explanation
from kgen.services.jobs import ProcessJob

POLL_MS = 100


class EvaluateView(QWidget):
    """Pick a run (the latest one by default), choose IWAE k and a test limit, Evaluate."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.scores: dict[str, float] = {}
        self._job: ProcessJob | None = None
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
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(form)
        layout.addWidget(self.evaluate_button)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.choose_button.clicked.connect(self._choose)
        self.evaluate_button.clicked.connect(self.evaluate)

    def set_look(self, look: theme.Look) -> None:
        """Fit the table to ``look``'s text (projector mode: the app's font grows): taller rows, and
        the score names' column as wide as its names; the normal look puts back the normal sizes."""
        self.table.verticalHeader().setDefaultSectionSize(round(self._row_height * look.font_scale))
        if self.table.rowCount():
            self.table.resizeColumnToContents(0)

    @property
    def busy(self) -> bool:
        return self._job is not None

    def set_run(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.run_label.setText(str(self.run_dir))
        self.evaluate_button.setEnabled(not self.busy)

    def evaluate(self) -> None:
        """Evaluate the chosen run in a child process; the table fills in when it is done."""
        if self.run_dir is None or self.busy:
            return
        limit = self.limit.value() or None
        self._job = ProcessJob("kgen.services.commands:evaluate_run", self.run_dir, k=self.iwae_k.value(),
                               limit=limit).start()
        self.evaluate_button.setEnabled(False)
        self.choose_button.setEnabled(False)
        self.status.setText(f"evaluating {self.run_dir.name}… (a classifier is trained once per dataset)")
        self._timer.start()

    def cancel(self) -> None:
        """End an evaluation still going (the window closes)."""
        if self._job is not None:
            self._job.cancel()
            self._job = None
            self._timer.stop()

    def _poll(self) -> None:
        job = self._job
        if job is None or not job.done:
            return
        self._timer.stop()
        self._job = None
        self.evaluate_button.setEnabled(True)
        self.choose_button.setEnabled(True)
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

    def _choose(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a run folder", str(self.run_dir or "runs"))
        if path:
            self.set_run(path)
