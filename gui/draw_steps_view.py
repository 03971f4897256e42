"""The draw-steps tab: a DRAW model drawing its images step by step, live while it trains.

A slider (or Play) picks the step t = 1..T. Above, the canvas after step t of samples drawn from
fixed prior noise; below, fixed test images over the canvas of their reconstruction after step
t. The attention windows of step t are outlined: where the encoder reads, over the test images,
and where the decoder writes, over the canvases. Bars show the KL each step costs: where the
model spends the information it takes from the image. Snapshots come from
`kgen.services.probes.DrawStepsProbe` through the bridge's ``draw_steps`` signal; the drawing of
the samples can be saved as an animated GIF.
"""

from __future__ import annotations

import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.pacing import PacedSnapshots, Pacer
from gui.samples_view import fit_on_resize, picture_plot
from kgen.pictures import display_scale, image_grid, save_gif

PAD = 1  # pixels between the tiles of a picture (image_grid's default)
COLUMNS = 4  # samples a row: two rows of four are twice as large as one of eight in a narrow tab
# (a maximised view, as in projector mode, has the width for them all in one row) ...
RECON_COLUMNS = 8  # ... and test images a row, each over its reconstruction
PLAY_MS = 300  # Play shows about three steps a second ...
HOLD_TICKS = 4  # ... and holds the finished drawing this many ticks before it starts again
GIF_STEP_MS = 250  # an exported GIF shows each step this long ...
GIF_HOLD_MS = 2000  # ... and its finished drawing this long
# Snapshots are drawn at most every SNAPSHOT_MS, taking at most SNAPSHOT_SHARE of the interface
# thread's time, but at least every SNAPSHOT_MAX_MS (`gui.pacing.Pacer`), as the sample grids.
SNAPSHOT_MS = 250
SNAPSHOT_SHARE = 0.015
SNAPSHOT_MAX_MS = 2000
BAR_WIDTH = 0.8
WAITING = "train a DRAW model (kind draw) to watch it draw here"


def step_picture(canvases: np.ndarray, t: int, columns: int) -> np.ndarray:
    """The uint8 tiles of step ``t``'s (0-based) canvases, for uint8 canvases (N, T, H, W, C)."""
    return image_grid(canvases[:, t] / 255.0, columns, pad=PAD)


def tile_origin(index: int, columns: int, height: int, width: int) -> tuple[int, int]:
    """(left, top) in pixels of tile ``index`` of an `image_grid` picture of H x W images."""
    row, column = divmod(index, columns)
    return PAD + column * (width + PAD), PAD + row * (height + PAD)


def paired_tiles(count: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile numbers of ``count`` images and of their partners when rows alternate: ``columns``
    images, then their partners just below them, then the next ``columns`` images, ..."""
    index = np.arange(count)
    tiles = index // columns * 2 * columns + index % columns
    return tiles, tiles + columns


def paired_picture(images: np.ndarray, partners: np.ndarray, columns: int) -> np.ndarray:
    """The uint8 picture of uint8 (N, H, W, C) images over their partners (`paired_tiles`)."""
    tiles, partner_tiles = paired_tiles(len(images), columns)
    laid = np.zeros((int(partner_tiles.max()) + 1, *images.shape[1:]), np.uint8)
    laid[tiles], laid[partner_tiles] = images, partners
    return image_grid(laid / 255.0, columns, pad=PAD)


def box_corners(box, index: int, columns: int, height: int, width: int) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1 on a picture of a window (x0, y0, x1, y1 in image pixels, counted from 0)
    over its tile ``index``. Pixel i covers [i, i + 1) on screen, so a centre at i is drawn at
    i + 0.5; the window is cut to its tile so it never spills over a neighbour."""
    left, top = tile_origin(index, columns, height, width)
    x0, y0, x1, y1 = (float(v) + 0.5 for v in box)
    return (left + np.clip(x0, 0.0, width), top + np.clip(y0, 0.0, height),
            left + np.clip(x1, 0.0, width), top + np.clip(y1, 0.0, height))


def box_outlines(boxes: np.ndarray, tiles, columns: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of the outlines of (N, 4) windows over the N ``tiles`` of a picture
    (`box_corners`), NaN between them: pyqtgraph draws each as its own line."""
    xs, ys = [], []
    for box, tile in zip(boxes, tiles, strict=True):
        x0, y0, x1, y1 = box_corners(box, int(tile), columns, height, width)
        xs += [x0, x1, x1, x0, x0, np.nan]
        ys += [y0, y0, y1, y1, y0, np.nan]
    return np.array(xs), np.array(ys)


def drawing_frames(canvases: np.ndarray, boxes: np.ndarray | None = None, colour: str = theme.PALETTE.live) -> np.ndarray:
    """One RGB frame per step of uint8 canvases (N, T, H, W, C): the N drawings side by side,
    enlarged to be seen (`display_scale`), each step's (N, T, 4) write ``boxes`` outlined in
    ``colour``; floats in [0, 1] for `kgen.pictures.save_gif`."""
    count, steps, height, width, _ = canvases.shape
    scale = display_scale(height)
    ink = np.array(QColor(colour).getRgb()[:3], np.uint8)
    frames = []
    for t in range(steps):
        frame = step_picture(canvases, t, count).repeat(scale, 0).repeat(scale, 1)
        frame = np.ascontiguousarray(np.broadcast_to(frame, (*frame.shape[:2], 3)))
        for index, box in enumerate(() if boxes is None else boxes[:, t]):
            corners, limits = box_corners(box, index, count, height, width), (frame.shape[1], frame.shape[0]) * 2
            x0, y0, x1, y1 = (min(round(v * scale), limit - 1) for v, limit in zip(corners, limits, strict=True))
            frame[y0, x0:x1 + 1] = frame[y1, x0:x1 + 1] = ink
            frame[y0:y1 + 1, x0] = frame[y0:y1 + 1, x1] = ink
        frames.append(frame)
    return np.stack(frames).astype(np.float32) / 255.0


def save_drawing_gif(canvases: np.ndarray, path: str | os.PathLike, boxes: np.ndarray | None = None) -> None:
    """An animated GIF of the drawings in uint8 canvases (N, T, H, W, C) with their write
    ``boxes`` (`drawing_frames`): one frame per step, the last held (`GIF_HOLD_MS`); written atomically."""
    frames = drawing_frames(canvases, boxes)
    held = np.repeat(frames[-1:], max(1, GIF_HOLD_MS // GIF_STEP_MS), axis=0)  # save_gif merges them into one
    save_gif(np.concatenate([frames, held]), path, duration_ms=GIF_STEP_MS)


class BoxOutlines:
    """Attention windows outlined on a picture plot: a line in ``role``'s colour over a wider one
    in the plot's background colour, so it shows on black canvas and on white ink alike."""

    def __init__(self, plot: pg.PlotItem, role: str):
        self.role = role
        self.halo = pg.PlotCurveItem(connect="finite")
        self.line = pg.PlotCurveItem(connect="finite")
        for item in (self.halo, self.line):
            plot.addItem(item)
        self.set_look(theme.NORMAL_LOOK)

    def colour(self, look: theme.Look) -> str:
        return getattr(look.palette, self.role)

    def set_look(self, look: theme.Look) -> None:
        self.halo.setPen(pg.mkPen(look.palette.plot_background, width=look.width(3.0)))
        self.line.setPen(pg.mkPen(self.colour(look), width=look.width(1.5)))

    def set_data(self, xs: np.ndarray, ys: np.ndarray) -> None:
        for item in (self.halo, self.line):
            item.setData(xs, ys, connect="finite")

    def clear(self) -> None:
        self.set_data(np.zeros(0), np.zeros(0))


class DrawStepsView(PacedSnapshots, QWidget):
    """The step scrubber, the windows, the KL bars and the GIF export; the latest snapshot is kept."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.snapshot = None  # the latest DrawSteps event received
        self.shown = None  # the one on screen
        self.received = 0
        self._look = theme.NORMAL_LOOK
        self._hold = 0  # ticks Play has held the finished drawing
        self._pacer = Pacer(self._redraw, min_ms=SNAPSHOT_MS, max_ms=SNAPSHOT_MAX_MS, share=SNAPSHOT_SHARE,
                            parent=self)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(theme.PALETTE.plot_background)
        self.sample_plot = picture_plot("samples of fixed noise z ~ N(0, I)")
        self.recon_plot = picture_plot("test images (read windows) over their reconstruction")
        self.graphics.addItem(self.sample_plot, row=0, col=0)
        self.graphics.addItem(self.recon_plot, row=1, col=0)
        self.sample_image = pg.ImageItem(axisOrder="row-major")
        self.recon_image = pg.ImageItem(axisOrder="row-major")
        self.sample_plot.addItem(self.sample_image)
        self.recon_plot.addItem(self.recon_image)
        fit_on_resize(self.sample_plot, self.sample_image)
        fit_on_resize(self.recon_plot, self.recon_image)
        self.sample_writes = BoxOutlines(self.sample_plot, "live")
        self.recon_reads = BoxOutlines(self.recon_plot, "waiting")
        self.recon_writes = BoxOutlines(self.recon_plot, "live")
        self.legend = QLabel()  # the windows' colours, when the model has attention

        self.kl_plot = pg.PlotWidget(background=theme.PALETTE.plot_background)
        kl_item = self.kl_plot.getPlotItem()
        kl_item.setMenuEnabled(False)
        kl_item.setMouseEnabled(False, False)
        kl_item.setLabel("left", "KL (nats)")
        kl_item.getAxis("left").enableAutoSIPrefix(False)  # nats as they are, not "(x0.001)"
        kl_item.setLabel("bottom", "step t")
        self.bars = pg.BarGraphItem(x=[], height=[], width=BAR_WIDTH)
        kl_item.addItem(self.bars)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimum(1)
        self.slider.setMaximum(1)
        self.slider.setEnabled(False)
        self.slider.setToolTip("the drawing step to show: the canvas after step t, and step t's windows")
        self.slider.valueChanged.connect(self._show_step)
        self.step_label = QLabel("step –")
        self.step_label.setMinimumWidth(90)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("animate the drawing, step after step")
        self.play_button.toggled.connect(self.set_playing)
        self.export_button = QPushButton("Export GIF…")
        self.export_button.setToolTip("save the samples being drawn as an animated GIF, one frame per step")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.status = QLabel(WAITING)
        self._player = QTimer(self)
        self._player.setInterval(PLAY_MS)
        self._player.timeout.connect(self._tick)

        row = QHBoxLayout()
        row.addWidget(self.play_button)
        row.addWidget(self.slider, 1)
        row.addWidget(self.step_label)
        row.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 3)
        layout.addWidget(self.legend)
        layout.addWidget(self.kl_plot, 2)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.set_look(theme.NORMAL_LOOK)
        self._update_controls()

    # What the window calls ---------------------------------------------------------------

    @property
    def steps(self) -> int:
        """T of the snapshot shown (0 before the first)."""
        return 0 if self.shown is None else int(self.shown.generated.shape[1])

    @property
    def step(self) -> int:
        """The step shown, 1..T."""
        return self.slider.value()


    def clear(self) -> None:
        self._pacer.cancel()
        self.set_playing(False)
        self.snapshot = self.shown = None
        self.received = 0
        for image in (self.sample_image, self.recon_image):
            image.clear()
        for outlines in (self.sample_writes, self.recon_reads, self.recon_writes):
            outlines.clear()
        self.bars.setOpts(x=[], height=[])
        self.slider.blockSignals(True)
        self.slider.setMaximum(1)  # the next run's first snapshot opens at its finished drawing
        self.slider.blockSignals(False)
        self.status.setText(WAITING)
        self.step_label.setText("step –")
        self._update_controls()

    def set_step(self, t: int) -> None:
        """Show step ``t`` (1..T) of the snapshot shown."""
        self.slider.setValue(t)

    def set_playing(self, playing: bool) -> None:
        """Play the drawing (a step every PLAY_MS, the finished one held, then again) or pause it."""
        playing = playing and self.shown is not None
        if self.play_button.isChecked() != playing:
            self.play_button.setChecked(playing)  # comes back here through toggled
            return
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self._hold = 0
            if self.step >= self.steps:
                self.slider.setValue(1)
            self._player.start()
        else:
            self._player.stop()

    def save_gif(self, path: str | os.PathLike) -> None:
        """Write the samples of the snapshot shown being drawn, with their write windows, as an
        animated GIF (`save_drawing_gif`)."""
        if self.shown is None:
            raise ValueError("there is no drawing to save yet")
        save_drawing_gif(self.shown.generated, path, self.shown.generated_writes)

    def set_look(self, look: theme.Look) -> None:
        """Draw in ``look`` (projector mode: larger titles and axes, thicker windows, its palette)."""
        self._look = look
        palette = look.palette
        self.graphics.setBackground(palette.plot_background)
        rows = self.graphics.ci.layout  # the height each picture needs: samples in one row or two
        rows.setRowStretchFactor(0, 2 if look.side_by_side else 3)
        rows.setRowStretchFactor(1, 3 if look.side_by_side else 2)
        self.kl_plot.setBackground(palette.plot_background)
        for plot in (self.sample_plot, self.recon_plot, self.kl_plot.getPlotItem()):
            self._set_title(plot, plot.titleLabel.text)
            theme.style_axes(plot, look)
        for outlines in (self.sample_writes, self.recon_reads, self.recon_writes):
            outlines.set_look(look)
        self.legend.setText(
            f"<span style='color:{self.recon_reads.colour(look)}'>■</span> read window: where the encoder looks"
            f" &nbsp; <span style='color:{self.recon_writes.colour(look)}'>■</span> write window: where the"
            " decoder draws")
        self._show_step(self.step)  # the pictures' rows, and the bars' colours

    # Inside -----------------------------------------------------------------------------

    def _set_title(self, plot: pg.PlotItem, text: str) -> None:
        plot.setTitle(text, size=self._look.size(9), color=self._look.title_colour)

    def _redraw(self) -> None:
        event = self.snapshot
        if event is None:
            return
        self.shown = event
        steps = self.steps
        if self.slider.maximum() != steps:  # a new run: start at its finished drawing
            self.slider.blockSignals(True)
            self.slider.setMaximum(steps)
            self.slider.setValue(steps)
            self.slider.blockSignals(False)
        kl = np.asarray(event.kl_steps, np.float64)
        self.bars.setOpts(x=np.arange(1, steps + 1), height=kl, width=BAR_WIDTH)
        self._set_title(self.kl_plot.getPlotItem(),
                        f"KL per step, {kl.sum():.3g} nats in all: where the model spends its information")
        self.legend.setVisible(event.write_boxes is not None)
        self.status.setText(f"epoch {event.epoch} · step {event.step} · {len(event.generated)} samples, "
                            f"{len(event.inputs)} test images, drawn in {steps} steps")
        self._update_controls()
        self._show_step(self.step)

    def _show_step(self, t: int) -> None:
        event = self.shown
        if event is None:
            return
        index = min(max(t, 1), self.steps) - 1
        samples, recon = event.generated, event.reconstructed
        _, _, height, width, _ = samples.shape
        sample_columns = len(samples) if self._look.side_by_side else min(COLUMNS, len(samples))
        recon_columns = min(RECON_COLUMNS, len(recon))
        self._set_image(self.sample_plot, self.sample_image, step_picture(samples, index, sample_columns))
        self._set_image(self.recon_plot, self.recon_image, paired_picture(event.inputs, recon[:, index], recon_columns))
        input_tiles, recon_tiles = paired_tiles(len(recon), recon_columns)
        for outlines, boxes, tiles, columns in ((self.sample_writes, event.generated_writes, range(len(samples)),
                                                 sample_columns),
                                                (self.recon_reads, event.read_boxes, input_tiles, recon_columns),
                                                (self.recon_writes, event.write_boxes, recon_tiles, recon_columns)):
            if boxes is None:
                outlines.clear()
            else:
                outlines.set_data(*box_outlines(boxes[:, index], tiles, columns, height, width))
        self._set_title(self.sample_plot, f"samples of fixed noise z ~ N(0, I): the canvas after step {index + 1}")
        self._set_title(self.recon_plot, f"test images over their reconstruction after step {index + 1}")
        self.step_label.setText(f"step {index + 1} / {self.steps}")
        self._colour_bars()

    @staticmethod
    def _set_image(plot: pg.PlotItem, image: pg.ImageItem, picture: np.ndarray) -> None:
        resized = image.image is None or image.image.shape[:2] != picture.shape[:2]
        image.setImage(picture[..., 0] if picture.shape[-1] == 1 else picture, levels=(0, 255))
        if resized:
            plot.getViewBox().autoRange(padding=0.01)

    def _colour_bars(self) -> None:
        """Every step's bar in the KL colour, the step shown in the highlight colour."""
        palette = self._look.palette
        brushes = [pg.mkBrush(palette.waiting if t == self.step else palette.kl_active) for t in range(1, self.steps + 1)]
        self.bars.setOpts(brushes=brushes, pen=pg.mkPen(palette.plot_ink, width=self._look.width(0.5)))

    def _tick(self) -> None:
        if self.step < self.steps:
            self.slider.setValue(self.step + 1)
        elif self._hold < HOLD_TICKS:
            self._hold += 1
        else:
            self._hold = 0
            self.slider.setValue(1)

    def _update_controls(self) -> None:
        shown = self.shown is not None
        self.slider.setEnabled(shown and self.steps > 1)
        self.play_button.setEnabled(shown and self.steps > 1)
        self.export_button.setEnabled(shown)

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the drawing as a GIF", "draw-steps.gif", "GIF pictures (*.gif)")
        if not path:
            return
        path = path if path.lower().endswith(".gif") else path + ".gif"
        try:
            self.save_gif(path)
        except OSError as err:
            self.status.setText(f"could not save: {err.strerror or err}")
        else:
            self.status.setText(f"saved the drawing ({self.steps} steps) to {path}")
