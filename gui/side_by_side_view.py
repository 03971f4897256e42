"""Side by side (slide 33): runs of a GAN on the same 2-D toy, each one's generated points on the
same axes with the toy's true modes marked, and under each the modes its points cover and their
high-quality share (the VEEGAN / PacGAN protocol, `kgen.eval.metrics.mode_coverage`).

A lesson sets a remedy beside the collapse it cures: the run training now is drawn live, its
finished partner stays beside it. The points are the runs' sample pictures' own points, read from
their folders (`kgen.runs.newest_points`) on a timer, as the monitor reads a followed run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui import theme
from kgen.config import RunConfig
from kgen.data import TOY_MODES
from kgen.eval.metrics import MIN_SAMPLES_PER_MODE, TOY_SAMPLES, TOY_STD, mode_coverage
from kgen.runs import newest_points

POLL_MS = 300  # a live run's folder is checked this often for a newer epoch's points
FRAME_MARGIN = 0.3  # the frame reaches this share of the modes' half-extent beyond them
# A mode counts as covered with this share of the points within 3 std of it: the protocol's 20
# of 2,500 samples (kgen eval), so 8 of a run's 1,000 picture points.
COVERED_SHARE = MIN_SAMPLES_PER_MODE / TOY_SAMPLES
POINT_SIZE, MODE_SIZE, MODE_PEN, SCORE_SCALE, SHARE_POINTS = 4.0, 16.0, 2.0, 1.5, 10.0
SHARE_OFFSET = 0.04  # a mode's share is written this share of the frame's width in towards the toy's centre
KEY = ("Purple: each run's generated points (its fixed noise). Circles: the true modes, solid green where "
       "at least {share:.1%} of the points lie within 3 std of the mode (covered), dashed red where fewer do; "
       "beside each mode, its share of the points.")


def toy_frame(modes: np.ndarray, std: float, margin: float = FRAME_MARGIN) -> tuple[float, float, float, float]:
    """A square x0, x1, y0, y1 around a toy's modes and their 3-std circles, ``margin`` wider."""
    low, high = modes.min(axis=0).astype(float) - 3 * std, modes.max(axis=0).astype(float) + 3 * std
    (cx, cy), half = (low + high) / 2, float(np.max(high - low)) / 2 * (1 + margin)
    return float(cx - half), float(cx + half), float(cy - half), float(cy + half)


def share_places(modes: np.ndarray, frame: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Where each mode's share is written, in from the mode towards the modes' centre (below a mode
    at it), where no text is cut off by the frame, and the anchor that puts the text on that side:
    (M, 2) places and (M, 2) TextItem anchors."""
    inward = modes.mean(axis=0) - modes
    norms = np.linalg.norm(inward, axis=1, keepdims=True)
    inward = np.where(norms > 1e-6, inward / np.maximum(norms, 1e-6), [0.0, -1.0])
    anchors = np.stack([0.5 - 0.5 * inward[:, 0], 0.5 + 0.5 * inward[:, 1]], axis=1)  # text's y runs down
    return modes + inward * SHARE_OFFSET * (frame[1] - frame[0]), anchors


def share_text(share: float) -> str:
    """"41%", "4.2%", "0.3%": whole percents from 10% up, a decimal below."""
    return f"{share:.0%}" if share >= 0.095 else f"{share:.1%}"


def coverage_text(covered: int, total: int) -> str:
    return f"{covered} of {total} modes covered"


def quality_text(high_quality: float) -> str:
    return f"{high_quality:.0%} of the points high quality (within 3 std of a mode)"


class SquarePlot(pg.PlotWidget):
    """A plot as tall as it is wide: a toy's frame fills it at any width."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        return width


class ToyRunPanel(QWidget):
    """One run: its name and state over its points and the toy's modes, the coverage below."""

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.name = name  # the lesson's run this panel shows
        self.run_dir: str | None = None
        self.label = name
        self.live = False
        self.status = "finished"  # how a run that is not live ended: finished, stopped, ended (failed)
        self.epoch = 0  # the epoch whose points are drawn (0: none yet)
        self.epochs: int | None = None
        self.toy: str | None = None
        self.points: np.ndarray | None = None
        self.coverage = None  # kgen.eval.metrics.ModeCoverage of the points drawn
        self.title = QLabel()
        font = QFont(self.title.font())
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.plot = SquarePlot(background=theme.PALETTE.plot_background)
        policy = self.plot.sizePolicy()
        policy.setHeightForWidth(True)
        self.plot.setSizePolicy(policy)
        item = self.plot.getPlotItem()
        item.setAspectLocked(True)
        item.setMenuEnabled(False)
        item.hideButtons()
        self.covered = pg.ScatterPlotItem(symbol="o", brush=None)
        self.missed = pg.ScatterPlotItem(symbol="o", brush=None)
        self.fake = pg.ScatterPlotItem(pen=None)
        for shown in (self.covered, self.missed, self.fake):
            item.addItem(shown)
        self.shares: list[pg.TextItem] = []  # each mode's share of the points, beside it
        self.scores = QLabel()
        font = QFont(self.scores.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * SCORE_SCALE)
        self.scores.setFont(font)
        self.scores.setWordWrap(True)
        self.quality = QLabel()
        self.quality.setWordWrap(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        theme.set_role(self.note, "muted")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.plot)
        layout.addWidget(self.scores)
        layout.addWidget(self.quality)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self.set_look(theme.NORMAL_LOOK)
        self.show_run(None, name, None)

    def set_look(self, look: theme.Look) -> None:
        palette = look.palette
        self.plot.setBackground(palette.plot_background)
        theme.style_axes(self.plot.getPlotItem(), look)
        self.fake.setSize(look.points(POINT_SIZE))
        self.fake.setBrush(pg.mkBrush(palette.fake))
        for marks, pen in ((self.covered, pg.mkPen(palette.real, width=look.width(MODE_PEN))),
                           (self.missed, pg.mkPen(palette.alert, width=look.width(MODE_PEN), style=Qt.PenStyle.DashLine))):
            marks.setPen(pen)
            marks.setSize(look.points(MODE_SIZE))
        self._look = look
        font = theme.plot_font(look)
        font.setPointSizeF(SHARE_POINTS * look.font_scale)
        for text in self.shares:
            text.setFont(font)
            text.setColor(palette.plot_ink)

    def show_run(self, run_dir: str | os.PathLike | None, label: str, config: RunConfig | None,
                 live: bool = False) -> None:
        """Show the run in ``run_dir`` (None: none yet) as ``label``; ``live``: it trains now."""
        self.run_dir = None if run_dir is None else str(run_dir)
        self.label, self.live, self.epoch, self.points, self.coverage = label, live, 0, None, None
        self.status = "finished"
        if config is not None:
            self.set_toy(config.train.dataset)
            self.epochs = config.train.epochs
        self.fake.setData([], [])
        self._show_modes(None)
        self.scores.setText("")
        self.quality.setText("")
        self.note.setText("" if run_dir is None else "waiting for the first epoch's points…")
        self._show_title()
        self.update_points()

    def set_toy(self, toy: str) -> None:
        """Frame the toy's modes, with a place for each one's share (a toy without modes: nothing
        to mark or count)."""
        self.toy = toy
        item = self.plot.getPlotItem()
        for text in self.shares:
            item.removeItem(text)
        self.shares = []
        if toy in TOY_MODES:
            frame = toy_frame(TOY_MODES[toy], TOY_STD[toy])
            item.setRange(xRange=frame[:2], yRange=frame[2:], padding=0)
            for (x, y), anchor in zip(*share_places(TOY_MODES[toy], frame), strict=True):
                text = pg.TextItem(anchor=tuple(anchor))
                text.setPos(float(x), float(y))
                item.addItem(text)
                self.shares.append(text)
            self.set_look(self._look)
        self._show_modes(None)

    def end(self, status: str) -> None:
        """The run stopped training (``status``: finished, stopped, or ended when it failed): its
        last points are read, and it is shown as done."""
        self.update_points()
        self.live, self.status = False, status
        self._show_title()

    def update_points(self) -> bool:
        """Read and draw the run's newest points if they are newer than those drawn; True if so."""
        found = newest_points(self.run_dir, after=self.epoch) if self.run_dir else None
        if found is None:
            return False
        self.epoch, points = found
        self.show_points(points)
        self._show_title()
        return True

    def show_points(self, points: np.ndarray) -> None:
        """Draw ``points`` (N, 2) and write the modes they cover under them."""
        self.points = points = np.asarray(points, np.float32)
        finite = points[np.all(np.isfinite(points), axis=1)] if points.ndim == 2 else points[:0]
        self.fake.setData(pos=finite if finite.shape[1:] == (2,) else np.zeros((0, 2)))
        if self.toy not in TOY_MODES or finite.shape[1:] != (2,) or not len(points):
            self.coverage = None
            self.scores.setText("")
            self.quality.setText("")
            self.note.setText(f"{len(points):,} points; {self.toy} has no modes to count")
            return
        modes = TOY_MODES[self.toy]
        self.coverage = mode_coverage(points, modes, TOY_STD[self.toy], min_share=COVERED_SHARE)
        self._show_modes(self.coverage.counts >= COVERED_SHARE * len(points))
        for text, count in zip(self.shares, self.coverage.counts, strict=True):
            text.setText(share_text(count / len(points)) if count else "")
        self.scores.setText(coverage_text(self.coverage.covered, len(modes)))
        self.quality.setText(quality_text(self.coverage.high_quality))
        x0, x1, y0, y1 = toy_frame(modes, TOY_STD[self.toy])
        outside = int(np.sum((finite[:, 0] < x0) | (finite[:, 0] > x1) | (finite[:, 1] < y0) | (finite[:, 1] > y1)))
        lost = len(points) - len(finite)
        self.note.setText(f"{len(points):,} points from fixed noise, epoch {self.epoch}"
                          + (f"; {outside:,} outside the frame" if outside else "")
                          + (f"; {lost:,} not finite (diverged)" if lost else ""))

    def _show_modes(self, covered: np.ndarray | None) -> None:
        """The toy's mode circles: covered ones solid, the rest dashed (all dashed before any points)."""
        if self.toy not in TOY_MODES:
            self.covered.setData([], [])
            self.missed.setData([], [])
            return
        modes = TOY_MODES[self.toy]
        if covered is None:  # no points (yet): no shares
            covered = np.zeros(len(modes), bool)
            for text in self.shares:
                text.setText("")
        self.covered.setData(pos=modes[covered])
        self.missed.setData(pos=modes[~covered])

    def _show_title(self) -> None:
        if self.run_dir is None:
            state = "not run yet: choose it under “run” and press Start"
        elif self.live:
            state = f"training, epoch {self.epoch} of {self.epochs}" if self.epochs else "training"
        else:
            state = f"{self.status}, epoch {self.epoch}" if self.epoch else "no points in its folder"
        self.title.setText(f"{self.label} — {state}")
        self.title.setToolTip(self.run_dir or "")


class SideBySideView(QWidget):
    """A panel per run of a lesson, on linked axes; live panels are re-read every POLL_MS."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.panels: list[ToyRunPanel] = []
        self._look = theme.NORMAL_LOOK
        self._row = QHBoxLayout()
        self.key = QLabel(KEY.format(share=COVERED_SHARE))
        self.key.setWordWrap(True)
        theme.set_role(self.key, "muted")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._row)
        layout.addWidget(self.key)
        layout.addStretch(1)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    def set_runs(self, runs: list[tuple[str, RunConfig]]) -> None:
        """One empty panel per (name, config), left to right: a lesson's runs before any has run."""
        for panel in self.panels:
            self._row.removeWidget(panel)
            panel.deleteLater()
        self.panels = []
        for name, config in runs:
            panel = ToyRunPanel(name)
            panel.set_look(self._look)
            panel.show_run(None, name, config)
            if self.panels:
                panel.plot.setXLink(self.panels[0].plot)
                panel.plot.setYLink(self.panels[0].plot)
            self._row.addWidget(panel, 1)
            self.panels.append(panel)
        self._timer.stop()

    def panel(self, name: str) -> ToyRunPanel | None:
        return next((p for p in self.panels if p.name == name), None)

    def show_run(self, name: str, run_dir: str | os.PathLike, label: str, config: RunConfig | None = None,
                 live: bool = False) -> None:
        """Show the run in ``run_dir`` in the panel of the lesson's run ``name`` (none: ignored);
        ``live``: it trains now and is re-read until `run_ended`."""
        panel = self.panel(name)
        if panel is None:
            return
        panel.show_run(run_dir, label, config, live)
        if live and not self._timer.isActive():
            self._timer.start()

    def run_ended(self, run_dir: str | os.PathLike, status: str = "ended") -> None:
        """The run in ``run_dir`` ended (``status``: finished, stopped; ended when it failed): its
        last points are drawn and it stops being re-read."""
        for panel in self.panels:
            if panel.run_dir is not None and Path(panel.run_dir) == Path(run_dir):
                panel.end(status)
        if not any(p.live for p in self.panels):
            self._timer.stop()

    def poll(self) -> None:
        for panel in self.panels:
            if panel.live:
                panel.update_points()

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode: larger points, thicker circles, its palette)."""
        self._look = look
        for panel in self.panels:
            panel.set_look(look)

