"""The latent explorer: sliders, KL bars, manifold, scatter, interpolation and posterior of a trained model.

The sliders page also shows draws of x from p(x|z) beside the decoder's mean (slide 9) and plays
a dream walk through the prior (slide 20). The drawing pad (gui.drawing_pad) shares this view's
worker: it follows `model_loaded`, `data_loaded` and `encoded`.

Every model computation runs in a `DecodeService` worker process: the UI thread hands it codes
and jobs and takes its results as soon as they arrive (a socket notifier on its pipe, and a
timer), so this process never imports TensorFlow. The pages are thin widgets
(`ManifoldView`, `ScatterView`, `InterpolateView`, `PosteriorView`, `KLBars`); this view routes
between them. The Posterior page shows the image picked on the scatter or drawn on the pad.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSocketNotifier, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.latent_explorer.draws_strip import DrawsStrip
from gui.latent_explorer.image_panel import ImagePanel
from gui.latent_explorer.interpolate_view import InterpolateView
from gui.latent_explorer.kl_bars import KLBars
from gui.latent_explorer.manifold_view import ManifoldView
from gui.latent_explorer.posterior_view import PosteriorView
from gui.latent_explorer.scatter_view import ScatterView
from gui.latent_explorer.walk_player import WalkPlayer
from kgen.pictures import display_scale, save_gif, save_png
from kgen.services.explorer import DecodeService, ExplorerData, collapsed_dimensions

POLL_MS = 30
MAX_SLIDERS = 16  # sliders for the first this many dimensions; the rest stay as set
STEP = 0.05  # one slider tick
LIMIT = 3.0  # sliders run from -LIMIT to LIMIT
COLUMN_WIDTHS = (200, 400)  # the sliders page's left column (sliders, KL bars): least and most, normal look
NO_DATA = "open a run directory (Open run…) to see its test set: a model file alone has no data"


@dataclass(frozen=True)
class End:
    """One end of an interpolation: its code, class (conditional models), image and caption."""

    z: np.ndarray
    label: int | None
    image: np.ndarray | None
    title: str


class _SideBySide(QWidget):
    """Two widgets side by side when there is width to spare, else one above the other."""

    def __init__(self, first: QWidget, second: QWidget):
        super().__init__()
        self._layout = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(first, 1)
        self._layout.addWidget(second, 1)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        wide = event.size().width() >= event.size().height()
        self._layout.setDirection(QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom)
        super().resizeEvent(event)


class LatentView(QWidget):
    """A model's latent space: sliders for z with the decoded image, and pages of analyses."""

    service_changed = Signal()  # a model is loading, or none is loaded any more
    model_loaded = Signal(dict)  # the worker's "loaded" event
    data_loaded = Signal(object)  # the run's ExplorerData
    encoded = Signal(dict)  # an "encoded" event (the drawing pad's request)
    draw_steps = Signal(object)  # a DRAW run's kgen.events.DrawSteps, asked for once its data is in

    def __init__(self, parent=None):
        super().__init__(parent)
        self.service: DecodeService | None = None
        self._notifier: QSocketNotifier | None = None  # wakes `poll` when the worker answers
        self.data: ExplorerData | None = None
        self.z = np.zeros(0, np.float32)
        self.sliders: list[QSlider] = []
        self._name_labels: list[QLabel] = []
        self._value_labels: list[QLabel] = []
        self.ends: dict[str, End] = {}
        self._rng = np.random.default_rng()
        self._model_status = ""  # what the status line says about the loaded model

        self.open_run_button = QPushButton("Open run…")
        self.open_run_button.clicked.connect(self._on_open_run_clicked)
        self.open_button = QPushButton("Open model…")
        self.open_button.clicked.connect(self._on_open_clicked)
        self.status = QLabel("no model yet: finish a run or open one")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the tab
        self.note = QLabel()
        self.note.setVisible(False)
        self.class_label = QLabel("class")
        self.class_picker = QComboBox()
        self.class_picker.setMinimumContentsLength(10)
        self.class_picker.currentIndexChanged.connect(lambda _: self._on_class_changed())
        self.random_button = QPushButton("Random z")
        self.zero_button = QPushButton("Zero")
        self.nearest_button = QPushButton("Nearest training image")
        self.nearest_button.setCheckable(True)
        self.nearest_button.setToolTip("show the training image whose code is nearest to z "
                                       "(a GAN: nearest in pixels to the decoded image)")
        self.random_button.clicked.connect(self.randomize)
        self.zero_button.clicked.connect(self.zero)
        self.nearest_button.toggled.connect(self._on_nearest_toggled)

        self.walk_player = WalkPlayer(ready=lambda: self.service is None or not self.service.decoding)
        self.walk_player.set_start(lambda: self.z)
        self.walk_player.frame.connect(self.set_z)
        self.draws = DrawsStrip()
        self.draws.redraw_requested.connect(self._request_draws)
        self.decoded = ImagePanel("decoded z", min_size=120)
        self.nearest = ImagePanel("", min_size=120)
        self.nearest.setVisible(False)
        self.kl_bars = KLBars()
        self.manifold = ManifoldView()
        self.scatter = ScatterView()
        self.interpolation = InterpolateView()
        self.posterior = PosteriorView()
        self.pages = QTabWidget()
        self.pages.addTab(self._sliders_page(), "Sliders")
        self.pages.addTab(self.manifold, "Manifold")
        self.pages.addTab(self.scatter, "Scatter")
        self.pages.addTab(self.interpolation, "Interpolate")
        self.pages.addTab(self.posterior, "Posterior")
        self.posterior.mode_changed.connect(self._request_posterior)
        self.posterior.index_chosen.connect(self.select_point)
        self.pages.currentChanged.connect(lambda _: self._refresh_page())
        self.manifold.changed.connect(self._request_manifold)
        self.manifold.export_requested.connect(
            lambda: self._ask_path("Export the manifold", "manifold.png", "PNG (*.png)", self.export_manifold_png))
        self.scatter.point_clicked.connect(self.select_point)
        self.scatter.use_as.connect(self.set_end_from_point)
        self.scatter.projection_changed.connect(self._on_projection_changed)
        self.interpolation.changed.connect(self._request_interpolation)
        self.interpolation.random_pair_requested.connect(self.random_pair)
        self.interpolation.export_gif_requested.connect(
            lambda: self._ask_path("Export the interpolation", "interpolation.gif", "GIF (*.gif)", self.export_gif))
        self.interpolation.export_png_requested.connect(
            lambda: self._ask_path("Export the strip", "interpolation.png", "PNG (*.png)", self.export_strip_png))

        top = QHBoxLayout()
        top.addWidget(self.open_run_button)
        top.addWidget(self.open_button)
        top.addWidget(self.status, 1)
        controls = QHBoxLayout()
        controls.addWidget(self.class_label)
        controls.addWidget(self.class_picker)
        controls.addStretch(1)
        controls.addWidget(self.walk_player)
        for button in (self.random_button, self.zero_button, self.nearest_button):
            controls.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(controls)
        layout.addWidget(self.note)
        layout.addWidget(self.pages, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._reset()

    def _sliders_page(self) -> QWidget:
        self._slider_box = QWidget()
        self._slider_grid = QGridLayout(self._slider_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._slider_box)
        left = self._slider_column = QWidget()  # its width follows the look's text (`set_look`)
        left.setMinimumWidth(COLUMN_WIDTHS[0])
        left.setMaximumWidth(COLUMN_WIDTHS[1])
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(scroll, 1)  # the KL bars keep their height, the sliders get the rest
        column.addWidget(self.kl_bars)
        right = QWidget()
        right_column = QVBoxLayout(right)
        right_column.setContentsMargins(0, 0, 0, 0)
        right_column.addWidget(_SideBySide(self.decoded, self.nearest), 3)
        right_column.addWidget(self.draws, 1)
        page = QSplitter(Qt.Orientation.Horizontal)
        page.addWidget(left)
        page.addWidget(right)
        page.setStretchFactor(1, 1)
        page.setSizes([300, 700])  # shares, kept when the tab is narrow
        return page

    def set_look(self, look: theme.Look) -> None:
        """Draw every page in ``look`` (projector mode: thick, large, its palette), now and for
        whatever a model loaded later fills in: each page keeps the look."""
        for page in (self.kl_bars, self.scatter, self.manifold, self.interpolation, self.draws,
                     self.decoded, self.nearest, self.posterior):
            page.set_look(look)
        least, most = (round(width * look.font_scale) for width in COLUMN_WIDTHS)  # room for the KL plot's text
        self._slider_column.setMinimumWidth(least)
        self._slider_column.setMaximumWidth(most)

    # Loading -------------------------------------------------------------------------------

    def load_model(self, path: str | os.PathLike) -> None:
        """Load the model file at ``path`` in a worker process; no dataset, so no scatter or KL."""
        self._start(DecodeService(path), os.fspath(path))

    def load_run(self, run_dir: str | os.PathLike) -> None:
        """Load a run's model and, from its config, its dataset, in a worker process."""
        self._start(DecodeService(run_dir=run_dir), os.fspath(run_dir))

    def _start(self, service: DecodeService, shown: str) -> None:
        self.close_service()
        self._reset()
        self._set_status(f"loading {shown}…")
        self.service = service
        self._watch()
        self._timer.start()
        self.service_changed.emit()

    def close_service(self) -> None:
        self._timer.stop()
        self._unwatch()
        if self.service is not None:
            self.service.close(timeout=None)  # ended at once: never block the UI on it
            self.service = None
            self.service_changed.emit()

    def _watch(self) -> None:
        """Watch the worker's pipe (a new one after a restart; none once it has gone)."""
        fileno = None if self.service is None else self.service.fileno()
        if self._notifier is not None and self._notifier.socket() == fileno:
            return
        self._unwatch()
        if fileno is not None:
            self._notifier = QSocketNotifier(fileno, QSocketNotifier.Type.Read, self)
            self._notifier.activated.connect(self.poll)

    def _unwatch(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None

    def _reset(self) -> None:
        self.data = None
        self.ends.clear()
        self._clear_sliders()
        self.decoded.clear()
        self.nearest.clear()
        self.walk_player.pause()
        self.draws.set_enabled(False, "draws of x from p(x|z) appear here once a model is loaded")
        self.nearest_button.setChecked(False)
        self.note.setVisible(False)
        self.kl_bars.set_kl(None)
        self.manifold.set_latent_dim(0, note="no model yet")
        self.scatter.set_points(None, None)
        self.interpolation.reset()
        self.posterior.reset(note="no model yet")
        self._set_controls(False, conditional=False)

    def _on_open_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a kgen model", "", "Keras models (*.keras)")
        if path:
            self.load_model(path)

    def _on_open_run_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a kgen run directory")
        if path:
            self.load_run(path)

    def _on_loaded(self, event: dict) -> None:
        service = self.service
        latent_dim = event["latent_dim"]
        self.z = np.zeros(latent_dim, np.float32)
        shape = "2-D points" if event["points"] else "x".join(map(str, event["image_shape"]))
        self._model_status = f"{service.path.name}: {latent_dim}-d latent, {shape}"
        self._set_status(self._model_status + (" · loading the test set…" if service.run_dir is not None else ""))
        if event["points"]:
            self._show_note("this GAN makes 2-D points, not images: there is nothing to show here")
            return
        shown = min(latent_dim, MAX_SLIDERS)
        if latent_dim > MAX_SLIDERS:
            self._show_note(f"sliders for the first {MAX_SLIDERS} of {latent_dim} dimensions; "
                            "Random z sets them all")
        for dim in range(shown):
            self._add_slider(dim)
        self._slider_grid.setRowStretch(shown, 1)  # sliders packed at the top
        self._set_class_names([str(c) for c in range(event["num_classes"])])
        self._set_controls(True, conditional=event["num_classes"] > 0)
        self.nearest_button.setEnabled(False)  # until the data is in
        self.manifold.set_latent_dim(latent_dim)
        self.interpolation.reset(enabled=True)
        self.posterior.reset(usable=event["encoder"] and latent_dim == 2)
        if service.run_dir is None:
            self.kl_bars.set_kl(None, note=NO_DATA)
            self.scatter.set_points(None, None, note=NO_DATA)
        self.draws.set_enabled(event["encoder"], "a GAN's generator is deterministic: x = G(z), "
                               "with no p(x|z) to draw from")
        self.model_loaded.emit(event)
        self._request()

    def _on_data(self, event: dict) -> None:
        data: ExplorerData = event["data"]
        self.data = data
        service = self.service
        if data.class_names and service.num_classes == len(data.class_names):
            self._set_class_names(list(data.class_names))
        self.nearest_button.setEnabled(True)
        self.data_loaded.emit(data)
        if "draw_steps" in service.views:  # the Draw steps tab of a run not trained live
            service.request_draw_steps()
        self._set_status(f"{self._model_status} · {data.dataset}: {len(data.images)} test images shown")
        if data.kl is not None:
            self.kl_bars.set_kl(data.kl, data.active)
            self._mark_collapsed(data.kl)
        else:
            self.kl_bars.set_kl(None, note="an AE's encoder is deterministic: no posterior, so no KL"
                                if service.encoder else "a GAN has no encoder, so no posterior and no KL")
        if data.codes is None:
            self.scatter.set_points(None, None, note="a GAN has no encoder: its test images have no codes")
            return
        d = data.codes.shape[1]
        how = f"the {d}-d posterior means" if d <= 2 else f"PCA of the {d}-d posterior means"
        self.scatter.set_points(data.xy, data.labels, data.class_names, projectable=d > 2,
                                note=f"{how} of {len(data.codes)} {data.dataset} test images")
        self.posterior.set_test_images(len(data.images))
        if self.posterior.usable and self.posterior.posterior is None:  # the page opens on test image #0
            self._show_posterior_of(0)

    # Sliders -------------------------------------------------------------------------------

    def _add_slider(self, dim: int) -> None:
        slider = QSlider(Qt.Orientation.Horizontal)
        ticks = round(LIMIT / STEP)
        slider.setRange(-ticks, ticks)
        slider.setMinimumWidth(80)
        name, value = QLabel(f"z{dim}"), QLabel("0.00")
        value.setMinimumWidth(40)
        slider.valueChanged.connect(lambda tick, d=dim: self._on_slider(d, tick))
        self._slider_grid.addWidget(name, dim, 0)
        self._slider_grid.addWidget(slider, dim, 1)
        self._slider_grid.addWidget(value, dim, 2)
        self.sliders.append(slider)
        self._name_labels.append(name)
        self._value_labels.append(value)

    def _clear_sliders(self) -> None:
        self._slider_grid.setRowStretch(len(self.sliders), 0)
        while self._slider_grid.count():
            widget = self._slider_grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.sliders.clear()
        self._name_labels.clear()
        self._value_labels.clear()

    def _mark_collapsed(self, kl: np.ndarray) -> None:
        """Grey out the names of dimensions collapsed to the prior; every name's tooltip gives its KL."""
        collapsed = set(collapsed_dimensions(kl))
        for dim, name in enumerate(self._name_labels):
            name.setToolTip(f"KL {kl[dim]:.3g} nats" + (": collapsed to the prior" if dim in collapsed else ""))
            theme.set_role(name, "alert" if dim in collapsed else None)

    def _on_slider(self, dim: int, tick: int) -> None:
        self.walk_player.pause()  # a hand on a slider takes over from the walk
        self.z[dim] = tick * STEP
        self._value_labels[dim].setText(f"{tick * STEP:.2f}")
        self._request()

    def set_z(self, z: np.ndarray) -> None:
        """Set the whole code (sliders follow, clipped to their range) and decode it once."""
        self.z = np.asarray(z, np.float32).copy()
        for dim, slider in enumerate(self.sliders):
            slider.blockSignals(True)
            slider.setValue(round(float(np.clip(self.z[dim], -LIMIT, LIMIT)) / STEP))
            slider.blockSignals(False)
            self._value_labels[dim].setText(f"{self.z[dim]:.2f}")
        self._request()

    def randomize(self) -> None:
        self.set_z(self._rng.standard_normal(len(self.z)).astype(np.float32))

    def zero(self) -> None:
        self.set_z(np.zeros(len(self.z), np.float32))

    def label(self) -> int | None:
        """The picked class for a conditional model, else None."""
        conditional = self.service is not None and self.service.num_classes > 0
        return max(0, self.class_picker.currentIndex()) if conditional else None

    def _set_class_names(self, names: list[str]) -> None:
        current = self.class_picker.currentIndex()
        self.class_picker.blockSignals(True)
        self.class_picker.clear()
        self.class_picker.addItems(names)
        self.class_picker.setCurrentIndex(max(0, current) if current < len(names) else 0)
        self.class_picker.blockSignals(False)

    def _on_class_changed(self) -> None:
        self._request()
        self._request_interpolation()

    def _class_name(self, label: int | None) -> str:
        if label is None:
            return ""
        names = self.data.class_names if self.data is not None else ()
        return names[label] if label < len(names) else str(label)

    # Scatter and interpolation ends ---------------------------------------------------------

    def select_point(self, index: int) -> None:
        """Show test image ``index`` beside its reconstruction; the sliders take its code (and class)."""
        data = self.data
        label = None if data.labels is None else int(data.labels[index])
        self.scatter.select(index, data.images[index],
                            f"test image #{index}" + (f": {self._class_name(label)}" if label is not None else ""))
        if self.service.num_classes and label is not None:
            self.class_picker.blockSignals(True)
            self.class_picker.setCurrentIndex(label)
            self.class_picker.blockSignals(False)
        self.set_z(data.codes[index])
        self._show_posterior_of(index)

    def _show_posterior_of(self, index: int) -> None:
        """Test image ``index`` goes to the Posterior page (asked about when the page is shown)."""
        data = self.data
        label = None if data.labels is None else int(data.labels[index])
        name = f": {self._class_name(label)}" if label is not None else ""
        self.posterior.show_index(index)
        self.posterior.set_image(data.images[index], label if self.service.num_classes else None,
                                 f"test image #{index}{name}")
        self._request_posterior()

    def _on_encoded(self, event: dict) -> None:
        """The drawing pad's image, encoded: the pad shows it, and it goes to the Posterior page."""
        self.encoded.emit(event)
        self.posterior.set_image(event["image"], event["label"], "the drawing pad's image")
        self._request_posterior()

    def set_end_from_point(self, end: str, index: int) -> None:
        """Make test image ``index`` interpolation end "A" or "B"."""
        data = self.data
        label = None if data.labels is None else int(data.labels[index])
        name = f": {self._class_name(label)}" if label is not None else ""
        conditional_label = label if self.service.num_classes else None
        self._set_end(end, End(data.codes[index].copy(), conditional_label, data.images[index], f"{end}: #{index}{name}"))
        self.scatter.mark_end(end, index)

    def random_pair(self) -> None:
        """Two random test images as A and B, or for a model without codes two random z."""
        if self.data is not None and self.data.codes is not None and len(self.data.codes) >= 2:
            a, b = self._rng.choice(len(self.data.codes), size=2, replace=False)
            self.set_end_from_point("A", int(a))
            self.set_end_from_point("B", int(b))
            return
        for end in "AB":
            z = self._rng.standard_normal(len(self.z)).astype(np.float32)
            self._set_end(end, End(z, None, None, f"{end}: a random z"))

    def _set_end(self, end: str, value: End) -> None:
        self.ends[end] = value
        self.interpolation.set_end(end, value.image, value.title)
        self._request_interpolation()

    # Exports ----------------------------------------------------------------------------------

    def export_manifold_png(self, path: str | os.PathLike) -> None:
        self._save(self.manifold.grid, path, lambda grid, p: save_png(grid, p, scale=self._scale()))

    def export_strip_png(self, path: str | os.PathLike) -> None:
        self._save(self.interpolation.strip, path, lambda strip, p: save_png(strip, p, scale=self._scale()))

    def export_gif(self, path: str | os.PathLike) -> None:
        self._save(self.interpolation.frames, path,
                   lambda frames, p: save_gif(frames, p, duration_ms=150, scale=self._scale()))

    def _scale(self) -> int:
        return display_scale(self.service.image_shape[0]) if self.service is not None else 1

    def _save(self, what, path, write) -> None:
        if what is None:
            self._set_status("nothing to export yet")
            return
        try:
            write(what, path)
        except (OSError, ValueError) as err:
            self._set_status(f"error: cannot write {path}: {err}")
            return
        self._set_status(f"saved {Path(path).name}")

    def _ask_path(self, caption: str, name: str, kinds: str, write) -> None:
        path, _ = QFileDialog.getSaveFileName(self, caption, name, kinds)
        if path:
            write(path)

    # Talking to the service ----------------------------------------------------------------

    def usable(self) -> bool:
        """True when a model that makes images is loaded: requests may go to ``service``."""
        return self.service is not None and self.service.ready and not self.service.points

    def _request(self) -> None:
        """Decode the current z, and refresh what follows it (nearest image, the visible grid)."""
        if not self.usable():
            return
        self.service.request(self.z, self.label())
        self._request_draws()
        if self.nearest_button.isChecked() and self.data is not None:
            self.service.request_nearest(self.z, self.label())
        if self.pages.currentWidget() is self.manifold:
            self._request_manifold()

    def _request_draws(self) -> None:
        if self.usable() and self.service.encoder and self.pages.currentIndex() == 0:
            self.service.request_draws(self.z, self.label(), n=len(self.draws.draws))

    def _refresh_page(self) -> None:
        if self.pages.currentWidget() is self.manifold:
            self._request_manifold()
        self._request_posterior()
        self._request_draws()  # only on the sliders page

    def _request_manifold(self) -> None:
        if self.usable() and len(self.z) >= 2:
            self.service.request_manifold(self.manifold.dims(), self.z, self.label(), self.manifold.size.value())

    def _request_interpolation(self) -> None:
        if not (self.usable() and set(self.ends) == {"A", "B"}):
            return
        a, b = self.ends["A"], self.ends["B"]
        steps = self.interpolation.steps.value()
        labels = None
        if self.service.num_classes:  # each half of the path keeps the class of its end
            la = self.label() if a.label is None else a.label
            lb = self.label() if b.label is None else b.label
            labels = np.where(np.linspace(0.0, 1.0, steps) < 0.5, la, lb).astype("int32")
        self.service.request_interpolation(a.z, b.z, steps, self.interpolation.method_name(), labels)

    def _request_posterior(self) -> None:
        """On the Posterior page: ask about its waiting image, or once per model for the aggregate."""
        page = self.posterior
        if not (self.usable() and page.usable and self.pages.currentWidget() is page):
            return
        if page.mode() == "aggregate":
            if self.data is None:
                page.holes_readout.setText(NO_DATA)
            elif page.aggregate is None:
                self.service.request_aggregate()
            return
        pending = page.take_pending()
        if pending is not None:
            image, label, source = pending
            self.service.request_posterior(image, label, source)

    def show_page(self, name: str) -> None:
        """Bring a page forward by its lesson view name ("posterior")."""
        if name == "posterior":
            self.pages.setCurrentWidget(self.posterior)

    def _on_nearest_toggled(self, on: bool) -> None:
        self.nearest.setVisible(on)
        if on:
            self.nearest.clear("searching the training set…")
            self._request()

    def _on_projection_changed(self, method: str) -> None:
        if self.usable() and self.data is not None:
            self.scatter.note.setText(f"projecting with {method}…")
            self.service.request_projection(method)

    def poll(self) -> None:
        service = self.service
        if service is None:
            return
        handlers = {"loaded": self._on_loaded, "data": self._on_data, "manifold": self._on_manifold,
                    "interpolation": self._on_interpolation, "nearest": self._on_nearest,
                    "projection": self._on_projection, "encoded": self._on_encoded,
                    "posterior": self.posterior.show_posterior, "aggregate": self.posterior.show_aggregate,
                    "draws": self.draws.show_draws, "draw_steps": lambda event: self.draw_steps.emit(event["event"])}
        for event in service.events():
            handler = handlers.get(event["type"])
            if handler is not None:
                handler(event)
            else:
                self._set_status(f"error: {event['message']}")
                if event["message"].startswith(("posterior:", "aggregate:")):
                    self.posterior.show_error(event["message"])
        results = service.poll()
        self._watch()
        if results:
            z, image = results[-1]
            self.decoded.set_picture(image)
            selected = self.scatter.selected
            if selected is not None and self.data is not None and np.array_equal(z, self.data.codes[selected]):
                self.scatter.show_reconstruction(image)

    def _on_manifold(self, event: dict) -> None:
        self.manifold.show_grid(event["picture"], event["dims"])

    def _on_interpolation(self, event: dict) -> None:
        self.interpolation.show_frames(event["frames"], event["method"])

    def _on_nearest(self, event: dict) -> None:
        if not self.nearest_button.isChecked():
            return
        name = self._class_name(event["label"])
        self.nearest.set_picture(event["image"], f"nearest training image #{event['index']}"
                                 + (f" ({name})" if name else "")
                                 + f", {event['distance']:.2f} away in {event['space']}")

    def _on_projection(self, event: dict) -> None:
        self.scatter.set_xy(event["xy"])
        d = self.data.codes.shape[1]
        method = "t-SNE" if event["method"] == "tsne" else "PCA"
        self.scatter.note.setText(f"{method} of the {d}-d posterior means of {len(self.data.codes)} "
                                  f"{self.data.dataset} test images")

    def _set_status(self, text: str) -> None:
        """One line above the pages; the tooltip holds it whole when the tab is too narrow."""
        self.status.setText(text)
        self.status.setToolTip(text)

    def _show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(True)

    def _set_controls(self, enabled: bool, conditional: bool) -> None:
        for button in (self.random_button, self.zero_button, self.nearest_button):
            button.setEnabled(enabled)
        self.walk_player.setEnabled(enabled)
        self.class_label.setVisible(conditional)
        self.class_picker.setVisible(conditional)
