"""The studio's main window: it creates the views and wires the bridge's signals to them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui import projector, theme
from gui.bridge import ControllerBridge
from gui.compare_view import CompareView
from gui.curves_view import CurvesView
from gui.draw_steps_view import DrawStepsView
from gui.drawing_pad import DrawingPad
from gui.estimator_toy_view import EstimatorToyView
from gui.evaluate_view import EvaluateView
from gui.game_1d_view import Game1DView
from gui.kl_gaussians_view import KLGaussiansView
from gui.latent_explorer.latent_view import LatentView
from gui.lesson_views.browser import LessonBrowser
from gui.lesson_views.history import LessonHistory
from gui.lesson_views.panel import LessonPanel
from gui.lesson_views.studio import LessonDesk
from gui.playground_view import PlayerStepButtons, PlaygroundView
from gui.run_monitor import RunMonitor
from gui.samples_view import SamplesView, builtin_class_names
from gui.setup_panel import SetupPanel
from kgen import registry
from kgen.data import TOYS, TOYS_1D
from kgen.errors import KgenError
from kgen.events import Start
from kgen.lessons import Lesson, LessonError, TryStep
from kgen.runs import fresh_run_dir

STATUS_MS = 200  # the status bar shows the latest step at most this often
CLOSE_TIMEOUT_S = 15.0  # closing waits this long for a stopped run to save itself


class MainWindow(QMainWindow):
    """Setup, the lesson browser and the open lesson on the left (tabs); curves and tabs (sample
    grids, latent explorer, ...) on the right; run controls and a status bar."""

    def __init__(self, runs_root: str | os.PathLike = "runs", controller=None, history: LessonHistory | None = None):
        """``controller``: what trains (default: a `kgen.services.training_process.ProcessController`);
        ``history``: where the lessons that ran are remembered (default: the studio's QSettings)."""
        super().__init__()
        self.setWindowTitle("kgen studio")
        self.runs_root = runs_root
        self.state = "idle"  # idle, running, paused, stopping, or monitoring (following a run)
        self._started_at = 0.0
        self._first_step: tuple[int, float] | None = None
        self._last_step = 0
        self._run_dir: str | None = None
        self._steps_total = 0
        self._epochs_total = 0
        self._player_steps = False  # the run's model can be stepped by player (Step D, Step G)

        self.bridge = ControllerBridge(self, controller)
        self.setup_panel = SetupPanel()
        self.curves = CurvesView()
        self.samples = SamplesView()
        self.latent_view = LatentView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.samples, "Samples")
        self.tabs.addTab(self.latent_view, "Latent explorer")
        self.drawing_pad = DrawingPad(self.latent_view)  # shares the explorer's model and worker
        self.tabs.addTab(self.drawing_pad, "Drawing pad")
        self.evaluate_view = EvaluateView()
        self.tabs.addTab(self.evaluate_view, "Evaluate")
        self.playground = PlaygroundView()  # shown while a GAN on a 2-D toy runs
        self.tabs.addTab(self.playground, "GAN playground")
        self.tabs.setTabVisible(self.tabs.indexOf(self.playground), False)
        self.game_1d = Game1DView()  # shown while a GAN on a 1-D toy runs (slide 30)
        self.tabs.addTab(self.game_1d, "1-D game")
        self.tabs.setTabVisible(self.tabs.indexOf(self.game_1d), False)
        self.draw_steps = DrawStepsView()  # shown while a model with the draw_steps view (DRAW) runs
        self.tabs.addTab(self.draw_steps, "Draw steps")
        self.tabs.setTabVisible(self.tabs.indexOf(self.draw_steps), False)
        self.compare_view = CompareView()
        self.tabs.addTab(self.compare_view, "Compare")
        self.kl_gaussians = KLGaussiansView()  # slide 14; a lesson opens it as the view "kl_gaussians"
        self.tabs.addTab(self.kl_gaussians, "KL of two Gaussians")
        self.estimator_toy = EstimatorToyView()  # slide 19; a lesson opens it as the view "estimator_toy"
        self.tabs.addTab(self.estimator_toy, "Gradient estimators")
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.step_button = QPushButton("Step")
        self.stop_button = QPushButton("Stop")
        self.player_steps = PlayerStepButtons()
        self.start_button.setDefault(True)
        self.step_button.setToolTip("run one more batch, then pause again")
        self.stop_button.setToolTip("stop after the current batch; the run is saved")
        self.live_lr = QDoubleSpinBox()
        self.live_lr.setDecimals(6)
        self.live_lr.setRange(1e-6, 10.0)
        self.live_lr.setSingleStep(1e-4)
        self.live_lr.setToolTip("the learning rate to switch to; the change is marked on the curves")
        self.lr_button = QPushButton("Set learning rate")
        self.save_button = QPushButton("Save model…")
        self.save_button.setToolTip("save the model as it is now (at the next batch boundary)")

        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.step_button, self.stop_button):
            buttons.addWidget(button)
        live = QHBoxLayout()
        live.addWidget(self.live_lr)
        live.addWidget(self.lr_button)
        live.addWidget(self.save_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        self.left_tabs = QTabWidget()  # the setup form, the lesson browser and the open lesson
        self.left_tabs.addTab(self.setup_panel, "Setup")
        left_layout.addWidget(self.left_tabs, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.player_steps)  # a row of its own: the run buttons fit a narrow column
        left_layout.addLayout(live)
        self.error_banner = QLabel()  # the last run's error, until the next Start
        self.error_banner.setWordWrap(True)
        theme.set_role(self.error_banner, "error")
        self.error_banner.setVisible(False)
        left_layout.addWidget(self.error_banner)
        right = QSplitter(Qt.Orientation.Horizontal)
        right.addWidget(self.curves)
        right.addWidget(self.tabs)
        right.setSizes([480, 580])
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 1060])
        self.splitter = splitter
        self.setCentralWidget(splitter)
        # Every view a lesson can name (kgen.lessons.VIEWS) that this window has: its widget.
        self.view_widgets: dict[str, QWidget] = {
            "setup": self.setup_panel, "curves": self.curves, "samples": self.samples, "latent": self.latent_view,
            "evaluate": self.evaluate_view, "playground": self.playground, "compare": self.compare_view,
            "kl_gaussians": self.kl_gaussians, "estimator_toy": self.estimator_toy, "drawing_pad": self.drawing_pad,
            "draw_steps": self.draw_steps, "game_1d": self.game_1d}

        self.device_label, self.step_label, self.epoch_label = QLabel(), QLabel(), QLabel()
        self.speed_label, self.elapsed_label, self.remaining_label = QLabel(), QLabel(), QLabel()
        for label in (self.device_label, self.step_label, self.epoch_label, self.speed_label, self.elapsed_label,
                      self.remaining_label):
            self.statusBar().addPermanentWidget(label)
        self._clock = QTimer(self)
        self._clock.setInterval(500)
        self._clock.timeout.connect(self._update_elapsed)
        self._status_event: dict | None = None
        self._status_timer = QTimer(self)
        self._status_timer.setSingleShot(True)
        self._status_timer.setInterval(STATUS_MS)
        self._status_timer.timeout.connect(self._show_status)

        self.start_button.clicked.connect(self.start_training)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.step_button.clicked.connect(self.bridge.step_once)
        for player_steps in (self.player_steps, self.playground.player_steps, self.game_1d.player_steps):
            player_steps.connect_to(self.bridge)
        self.stop_button.clicked.connect(self._on_stop_clicked)
        self.lr_button.clicked.connect(lambda: self.set_learning_rate(self.live_lr.value()))
        self.save_button.clicked.connect(self._on_save_clicked)
        self.bridge.notice.connect(self.statusBar().showMessage)
        self.bridge.started.connect(self._on_started)
        self.bridge.step.connect(self._on_step)
        self.bridge.epoch.connect(self._on_epoch)
        self.bridge.epoch.connect(self.curves.add_epoch)
        self.bridge.hparam.connect(self.curves.add_hparam)
        self.bridge.samples.connect(self.samples.add_grid)
        self.bridge.reconstructions.connect(self.samples.add_reconstructions)
        self.bridge.sigma_maps.connect(self.samples.add_sigma_maps)
        self.bridge.playground.connect(self.playground.add_snapshot)
        self.bridge.draw_steps.connect(self.draw_steps.add_snapshot)
        self.bridge.game_1d.connect(self.game_1d.add_snapshot)
        self.latent_view.model_loaded.connect(self._on_explored_model)
        self.latent_view.draw_steps.connect(self.draw_steps.add_snapshot)
        self.bridge.finished.connect(self._on_finished)
        self.bridge.failed.connect(self._on_failed)
        self._init_monitor(left_layout)
        self.lesson_desk = LessonDesk(self, history)
        self._set_state("idle")
        self.resize(1400, 900)
        projector.install(self)  # View > Projector mode, the run keys, Help > Keyboard shortcuts

    def start_training(self) -> None:
        """Start a run of the setup panel's config, or say in the status bar why not."""
        if self.state != "idle":
            return
        try:
            config = self.setup_panel.config()
        except KgenError as err:
            self.statusBar().showMessage(f"cannot start: {err}")
            return
        self.curves.clear()
        self.curves.expect(registry.spec(config.train.model).step_metrics)  # its plots, built while the run loads
        self.samples.clear()
        self._prepare_live_views(config)
        self._player_steps = registry.spec(config.train.model).player_steps
        for label in (self.step_label, self.epoch_label, self.speed_label, self.remaining_label):
            label.clear()
        self.live_lr.setValue(config.train.lr)
        self.error_banner.setVisible(False)
        self._first_step = None
        run_dir = fresh_run_dir(config, self.runs_root)
        self.bridge.start(config, run_dir)
        self.lesson_desk.run_started()
        self._started_at = time.monotonic()
        self._clock.start()
        self._set_state("running")
        self.statusBar().showMessage(f"loading {config.train.dataset} and building the {config.train.model}…")

    def _prepare_live_views(self, config) -> None:
        """Class names over conditional grids; the GAN playground tab (the 1-D game tab), brought forward,
        for a GAN on a 2-D (1-D) toy; the draw-steps tab for a model that draws in steps."""
        views = registry.spec(config.train.model).views
        conditional = "class_names" in views
        self.samples.set_class_columns(builtin_class_names(config.train.dataset), config.train.grid_size * conditional)
        toy_gan = "playground" in views and config.train.dataset in TOYS
        self.tabs.setTabVisible(self.tabs.indexOf(self.playground), toy_gan)
        self.playground.clear()
        if toy_gan:
            self.tabs.setCurrentWidget(self.playground)
        game_1d = "game_1d" in views and config.train.dataset in TOYS_1D
        self.tabs.setTabVisible(self.tabs.indexOf(self.game_1d), game_1d)
        self.game_1d.clear()
        if game_1d:
            self.tabs.setCurrentWidget(self.game_1d)
        self.draw_steps.clear()
        self._show_draw_steps_tab("draw_steps" in views)

    def _show_draw_steps_tab(self, shown: bool) -> None:
        index = self.tabs.indexOf(self.draw_steps)
        self.tabs.setTabVisible(index, shown)
        self.tabs.setTabEnabled(index, shown)

    def _on_explored_model(self, event: dict) -> None:
        """The latent explorer loaded a run's model (trained here, followed or opened): the Draw
        steps tab shows for a kind that draws in steps, filled by the explorer's worker."""
        if self.bridge.is_running:  # a model opened in the explorer while a run trains: the run's tabs stay
            return
        drawn_in_steps = "draw_steps" in event["views"]
        if not drawn_in_steps:
            self.draw_steps.clear()
        self._show_draw_steps_tab(drawn_in_steps)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        if self.bridge.is_running:
            self.statusBar().showMessage("stopping the run before closing…")
            self.bridge.shutdown(CLOSE_TIMEOUT_S)
        self._clock.stop()
        self.latent_view.close_service()
        self.evaluate_view.cancel()
        event.accept()

    # Run controls ------------------------------------------------------------------------

    def _on_pause_clicked(self) -> None:
        if self.state == "running":
            self.bridge.pause()
            self._set_state("paused")
        elif self.state == "paused":
            self.bridge.resume()
            self._first_step = None  # the time-left estimate restarts: a pause is not training time
            self._set_state("running")

    def set_learning_rate(self, lr: float) -> None:
        """Switch the running model to learning rate ``lr`` at its next batch boundary."""
        try:
            self.bridge.set_learning_rate(lr)
        except (KgenError, RuntimeError) as err:
            self.statusBar().showMessage(f"cannot change the learning rate: {err}")
        else:
            self.statusBar().showMessage(f"learning rate -> {lr:g} at the next batch")

    def save_model_to(self, path: str | os.PathLike) -> None:
        """Save the running model to ``path`` at its next batch boundary (the status bar says when)."""
        try:
            self.bridge.save_model(path)
        except RuntimeError as err:
            self.statusBar().showMessage(f"cannot save: {err}")

    def _on_save_clicked(self) -> None:
        default = str(Path(self._run_dir or ".") / f"saved-step{self._last_step:06d}.keras")
        path, _ = QFileDialog.getSaveFileName(self, "Save the model", default, "Keras model (*.keras)")
        if path:
            self.save_model_to(path if path.endswith(".keras") else path + ".keras")

    def _on_stop_clicked(self) -> None:
        self.bridge.stop()
        self._set_state("stopping")
        self.statusBar().showMessage("stopping after the current batch…")

    def _set_state(self, state: str) -> None:
        self.state = state
        active = state != "idle"
        self.start_button.setEnabled(not active)
        self.setup_panel.setEnabled(not active)
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.step_button.setEnabled(state == "paused")
        for player_steps in (self.player_steps, self.playground.player_steps, self.game_1d.player_steps):
            player_steps.set_available(state == "paused" and self._player_steps)
        self.stop_button.setEnabled(state in ("running", "paused"))
        for widget in (self.live_lr, self.lr_button, self.save_button):
            widget.setEnabled(state in ("running", "paused"))
        self.lesson_desk.set_running(state not in ("idle", "monitoring"))
        self.open_run_action.setEnabled(state in ("idle", "monitoring"))
        self.unfollow_action.setEnabled(state == "monitoring")

    # Bridge signals ------------------------------------------------------------------------

    def _on_started(self, event: Start) -> None:
        self._steps_total = (event.steps_per_epoch or 0) * (event.epochs or 0)
        self.curves.set_total_steps(self._steps_total)
        self._epochs_total = event.epochs or 0
        self.device_label.setText(event.device)
        self._run_dir = event.run_dir
        self.statusBar().showMessage(f"training into {event.run_dir}")

    def _on_step(self, event: dict) -> None:
        """Curves take every step; the status bar shows the latest a few times a second (labels
        redrawn hundreds of times a second would take the GIL from training for nothing)."""
        self.curves.add_step(event)
        self._last_step = event["step"]
        self._status_event = event
        if not self._status_timer.isActive():
            self._status_timer.start()

    def _show_status(self) -> None:
        event, self._status_event = self._status_event, None
        if event is None:
            return
        self.step_label.setText(f"step {event['step']}/{self._steps_total}")
        self.epoch_label.setText(f"epoch {event['epoch']}/{self._epochs_total}")
        if "images_per_second" in event:
            self.speed_label.setText(f"{event['images_per_second']:,.0f} images/s")
        elif "steps_per_second" in event:  # a followed run whose batch size is unknown
            self.speed_label.setText(f"{event['steps_per_second']:,.1f} steps/s")
        if self.state != "monitoring":  # a followed run's time left comes from its own clock
            self.remaining_label.setText(self._remaining(event["step"]))

    def _remaining(self, step: int) -> str:
        """Time left at the pace since the first step seen (which includes validation and grids)."""
        now = time.monotonic()
        if self._first_step is None:
            self._first_step = (step, now)
            return ""
        first, since = self._first_step
        if step <= first or not self._steps_total:
            return ""
        seconds = int((self._steps_total - step) * (now - since) / (step - first))
        return f"{seconds // 60}:{seconds % 60:02d} left"

    def _on_epoch(self, event: dict) -> None:
        metrics = event["metrics"]
        shown = ", ".join(f"{k} {metrics[k]:.4g}" for k in ("loss", "val_loss", "d_loss", "g_loss") if k in metrics)
        self.statusBar().showMessage(f"epoch {event['epoch']} done: {shown}")

    def _on_finished(self, event: dict) -> None:
        self._end_run()
        scores = ", ".join(f"{k} {v:.4g}" for k, v in event["test"].items())
        self.statusBar().showMessage(f"{event['status']} after {event['epochs_done']} epochs: {event['run_dir']}"
                                     + (f"  (test: {scores})" if scores else ""))
        self.evaluate_view.set_run(event["run_dir"])
        self.lesson_desk.run_ended(event)
        self.remaining_label.clear()
        if event["test"]:
            self.curves.add_eval({"split": "test", "metrics": event["test"]})
        model_path = Path(event["run_dir"]) / "model.keras"
        if model_path.is_file():  # the run's model, with its dataset for the scatter and KL
            self.latent_view.load_run(event["run_dir"])

    def _on_failed(self, message: str) -> None:
        self._end_run()
        self.statusBar().showMessage(f"error: {message}")
        self.error_banner.setText(f"Training stopped: {message}")
        self.error_banner.setVisible(True)

    def _end_run(self) -> None:
        self._show_status()
        self.samples.flush()  # the last pictures, if they wait for their pacers
        self.playground.flush()
        self.game_1d.flush()
        self.draw_steps.flush()
        self._clock.stop()
        self._update_elapsed()
        self.curves.redraw()
        self._set_state("idle")

    def _update_elapsed(self) -> None:
        if not self._started_at:  # nothing trained in this window (a followed run has its own clock)
            return
        seconds = int(time.monotonic() - self._started_at)
        self.elapsed_label.setText(f"{seconds // 60}:{seconds % 60:02d} elapsed")

    # Monitor mode: follow a run another process writes ------------------------------------

    def _init_monitor(self, controls: QVBoxLayout) -> None:
        """Open run… / Stop following (File menu and buttons); the monitor's signals feed the
        same views and status bar as the bridge's."""
        self.monitor = RunMonitor(self)
        self.follow_label = QLabel()  # which run is followed, and whether it is live
        self.statusBar().insertPermanentWidget(0, self.follow_label)
        self.file_menu = menu = self.menuBar().addMenu("&File")
        self.open_run_action = menu.addAction("Open run…", self._on_open_run_clicked)
        self.open_run_action.setToolTip("follow a run directory, live or finished: kgen train, or your own "
                                        "model.fit with kgen.train.RunLogger")
        self.unfollow_action = menu.addAction("Stop following", self.stop_following)
        row = QHBoxLayout()
        for action in (self.open_run_action, self.unfollow_action):
            button = QPushButton(action.text())
            button.setToolTip(action.toolTip())
            button.clicked.connect(action.trigger)
            action.enabledChanged.connect(button.setEnabled)
            row.addWidget(button)
        controls.insertLayout(controls.count() - 1, row)  # above the closing stretch
        self.monitor.started.connect(self._on_started)
        self.monitor.step.connect(self._on_step)
        self.monitor.step.connect(self._on_followed_step)
        self.monitor.epoch.connect(self._on_epoch)
        self.monitor.epoch.connect(self.curves.add_epoch)
        self.monitor.samples.connect(self.samples.add_grid)
        self.monitor.sigma_maps.connect(self.samples.add_sigma_maps)
        self.monitor.finished.connect(lambda *_: self.samples.flush())
        self.monitor.hparam.connect(self.curves.add_hparam)
        self.monitor.evaluated.connect(self.curves.add_eval)
        self.monitor.reset.connect(self._clear_followed_views)
        self.monitor.model_ready.connect(self._on_followed_model)
        self.monitor.notice.connect(self.statusBar().showMessage)
        self.monitor.started.connect(lambda *_: self.setup_panel.show_followed(self.monitor.info))
        for signal in (self.monitor.started, self.monitor.finished, self.monitor.changed):
            signal.connect(self._show_followed)

    def open_run(self, path: str | os.PathLike) -> None:
        """Follow the run in ``path`` (monitor mode): its curves, sample grids and progress show as
        if it trained here; it may still be training elsewhere, or not have started yet."""
        if self.state not in ("idle", "monitoring"):
            self.statusBar().showMessage("stop the training before opening another run")
            return
        self.monitor.stop()
        self._clear_followed_views()
        self._run_dir = str(path)
        self._set_state("monitoring")
        self.monitor.follow(path)
        self.setup_panel.show_followed(self.monitor.info)
        self._show_followed()

    def stop_following(self) -> None:
        if self.state != "monitoring":
            return
        self.monitor.stop()
        self.curves.redraw()
        self.setup_panel.show_followed(None)
        self._set_state("idle")
        self.setWindowTitle("kgen studio")
        self.follow_label.clear()
        self.statusBar().showMessage(f"stopped following {self._run_dir}")

    def _on_open_run_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Follow a run directory", str(self.runs_root))
        if path:
            self.open_run(path)

    def _clear_followed_views(self, *_) -> None:
        self.curves.clear()
        self.samples.clear()
        self._first_step = None
        for label in (self.step_label, self.epoch_label, self.speed_label, self.elapsed_label, self.remaining_label,
                      self.device_label):
            label.clear()

    def _on_followed_model(self, run_dir: str) -> None:
        """A followed kgen run finished and saved its model: explore and evaluate it here."""
        self.latent_view.load_run(run_dir)
        self.evaluate_view.set_run(run_dir)

    def _on_followed_step(self, event: dict) -> None:
        """The followed run's own clock: elapsed as it recorded it, time left at its recent pace."""
        if isinstance(event.get("elapsed"), (int, float)):
            seconds = int(event["elapsed"])
            self.elapsed_label.setText(f"{seconds // 60}:{seconds % 60:02d} elapsed")
        rate = event.get("steps_per_second")
        if rate and self._steps_total and self.monitor.state() == "live":
            seconds = int((self._steps_total - event["step"]) / rate)
            self.remaining_label.setText(f"{seconds // 60}:{seconds % 60:02d} left")
        else:
            self.remaining_label.clear()

    def _show_followed(self, *_) -> None:
        if self.state != "monitoring":
            return
        state = self.monitor.state()
        said = {"waiting": "waiting for its first events", "quiet": "live, but quiet for a while"}.get(state, state)
        source = " (recorded by RunLogger)" if self.monitor.info.get("source") == "external" else ""
        self.setWindowTitle(f"kgen studio — following {Path(self._run_dir).name}: {said}")
        follower = self.monitor.follower
        skipped = (f"; skipped {follower.skipped} unusable event(s) (the last: {follower.last_problem})"
                   if follower is not None and follower.skipped else "")
        self.statusBar().showMessage(f"following {self._run_dir}{source}: {said}{skipped}")
        p = theme.PALETTE
        color = {"live": p.live, "quiet": p.waiting, "waiting": p.waiting}.get(state, p.muted)
        self.follow_label.setText(f"<span style='color:{color}'>●</span> following <b>{Path(self._run_dir).name}</b>: "
                                  f"{said}")

    # Lessons: the browser, the open lesson, its runs and try steps (gui.lesson_views.studio) ----

    @property
    def lesson(self) -> Lesson | None:
        """The open lesson."""
        return self.lesson_desk.lesson

    @lesson.setter
    def lesson(self, lesson: Lesson | None) -> None:
        self.lesson_desk.lesson = lesson

    @property
    def lesson_panel(self) -> LessonPanel:
        return self.lesson_desk.panel

    @property
    def browser(self) -> LessonBrowser:
        return self.lesson_desk.browser

    @property
    def history(self) -> LessonHistory:
        return self.lesson_desk.history

    @property
    def pack(self):
        """The open class pack with prepared runs (kgen lessons prepare), or None."""
        return self.lesson_desk.pack

    @property
    def lessons_menu(self) -> QMenu:
        return self.lesson_desk.lessons_menu

    @property
    def _lessons(self) -> list[Lesson | LessonError] | None:
        return self.lesson_desk.lessons

    def show_lessons(self, lessons, pack=None) -> None:
        """List ``lessons`` in the browser, with a class ``pack``'s prepared runs (LessonDesk.show_lessons)."""
        self.lesson_desk.show_lessons(lessons, pack)

    def open_class_pack(self, path: str | os.PathLike) -> bool:
        """List the lessons of the class pack at ``path``; True when it opened."""
        return self.lesson_desk.open_class_pack(path)

    def lesson_list(self) -> list[Lesson]:
        """The browser's lessons, in order."""
        return self.lesson_desk.lesson_list()

    def open_lesson(self, lesson_or_name: Lesson | str) -> None:
        """Open a lesson, or the browser's lesson of that name (LessonError if none)."""
        self.lesson_desk.open_lesson(lesson_or_name)

    def next_lesson(self) -> None:
        self.lesson_desk.next_lesson()

    def previous_lesson(self) -> None:
        self.lesson_desk.previous_lesson()

    def bring_views_forward(self, names) -> None:
        """Show the named views (kgen.lessons.VIEWS); the first named wins its place."""
        self.lesson_desk.bring_views_forward(names)

    def start_lesson_run(self, run_name: str) -> None:
        """Train the open lesson's run ``run_name`` through the setup form and Start."""
        self.lesson_desk.start_lesson_run(run_name)

    def try_step(self, step: TryStep) -> None:
        """Apply a "try this" step of the open lesson to its run and start it."""
        self.lesson_desk.try_step(step)
