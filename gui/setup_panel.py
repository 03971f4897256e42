"""The run setup form: dataset, model and training options, turned into a typed `RunConfig`."""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QWidget,
)

from gui import theme
from kgen import registry
from kgen.config import (
    MAX_IMPORTANCE_SAMPLES,
    MAX_PACK,
    MAX_UNROLL,
    RunConfig,
    TrainConfig,
    model_config,
    option_help,
    options,
)
from kgen.data import list_datasets, load_dataset
from kgen.errors import show_path
from kgen.pictures import dataset_preview
from kgen.services.jobs import BackgroundJob

PATH_FORMS = ("folder:PATH", "npz:PATH")  # listed by list_datasets; offered by the Open button instead
PREVIEW_HEIGHT = 48  # pixels of the preview strip of real images, at most
PREVIEW_WIDTH = 300  # so the strip never widens the setup panel
# The model options the panel sets; each row shows for the models whose config has the option.
MODEL_OPTIONS = ("latent_dim", "arch", "likelihood", "beta", "estimator", "importance_samples", "d_steps",
                 "gp_weight", "generator_loss", "pixels", "temperature", "pack", "unroll", "steps", "attention")
TRAIN_OPTIONS = ("epochs", "batch_size", "lr", "lr_decay", "seed")


class SetupPanel(QWidget):
    """Widgets for one run's options; `config` builds (and so validates) the `RunConfig`."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.dataset = QComboBox()
        self.dataset.setMinimumContentsLength(14)
        for info in list_datasets():
            if info.name not in PATH_FORMS:
                self._add_dataset_item(info.name, f"{info.description}\n{info.detail}", info.available)
        self.open_data = QPushButton("Open data file…")
        menu = QMenu(self.open_data)
        menu.addAction("NumPy .npz file…", self._choose_npz)
        menu.addAction("Image folder…", self._choose_folder)
        self.open_data.setMenu(menu)
        self.model = QComboBox()
        for spec in registry.specs():
            self.model.addItem(spec.name)
            self.model.setItemData(self.model.count() - 1, spec.description, Qt.ItemDataRole.ToolTipRole)
        self.latent_dim = _spin(1, 512)
        self.epochs = _spin(1, 100_000)
        self.batch_size = _spin(1, 65_536)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.0, 10.0)  # 0 is allowed here so that config() can say why it is wrong
        self.lr.setSingleStep(1e-4)
        self.lr_decay = QDoubleSpinBox()
        self.lr_decay.setDecimals(2)
        self.lr_decay.setRange(0.0, 1.0)
        self.lr_decay.setSingleStep(0.05)
        self.seed = _spin(0, 2**31 - 1)
        self.d_steps = _spin(1, 100)
        self.gp_weight = QDoubleSpinBox()
        self.gp_weight.setDecimals(2)
        self.gp_weight.setRange(0.0, 1e6)
        self.gp_weight.setSingleStep(1.0)
        self.generator_loss = QComboBox()
        self.pack = _spin(1, MAX_PACK)
        self.unroll = _spin(0, MAX_UNROLL)
        self.pixels = QComboBox()
        self.arch = QComboBox()
        self.likelihood = QComboBox()
        self.beta = QDoubleSpinBox()
        self.beta.setDecimals(3)
        self.beta.setRange(0.0, 1000.0)
        self.beta.setSingleStep(0.5)
        self.estimator = QComboBox()
        self.importance_samples = _spin(1, MAX_IMPORTANCE_SAMPLES)
        self.temperature = QDoubleSpinBox()
        self.temperature.setDecimals(3)
        self.temperature.setRange(0.0, 100.0)  # 0 is allowed here so that config() can say why it is wrong
        self.temperature.setSingleStep(0.1)
        self.steps = _spin(1, 256)
        self.attention = QComboBox()
        for name in TRAIN_OPTIONS:
            getattr(self, name).setToolTip(option_help(TrainConfig, name))
        self.preview = DatasetPreview()

        self._carried: RunConfig | None = None  # the config set_config showed, for its options without a widget
        self.carried = QLabel()  # those options, named
        self.carried.setWordWrap(True)
        theme.set_role(self.carried, "muted")
        self.followed = QLabel()  # while the studio follows a run: whose settings these are
        self.followed.setWordWrap(True)
        theme.set_role(self.followed, "muted")
        data_row = QHBoxLayout()
        data_row.setContentsMargins(0, 0, 0, 0)
        data_row.addWidget(self.dataset, 1)
        data_row.addWidget(self.open_data)
        self.form = QFormLayout(self)
        self.form.addRow(self.followed)
        self.form.setRowVisible(self.followed, False)
        self.form.addRow("dataset", data_row)
        self.form.addRow("", self.preview)
        for label, widget in (("model", self.model), ("architecture", self.arch), ("latent dim", self.latent_dim),
                              ("likelihood", self.likelihood), ("beta", self.beta), ("estimator", self.estimator),
                              ("draws per image (k)", self.importance_samples), ("temperature", self.temperature), ("epochs", self.epochs),
                              ("batch size", self.batch_size), ("learning rate", self.lr),
                              ("lr decay (last share)", self.lr_decay), ("seed", self.seed),
                              ("D steps per G step", self.d_steps), ("gradient penalty λ", self.gp_weight),
                              ("generator loss", self.generator_loss),
                              ("pixels", self.pixels), ("samples per D decision (pack)", self.pack),
                              ("unrolled D steps for G", self.unroll),
                              ("drawing steps", self.steps), ("attention", self.attention)):
            self.form.addRow(label, widget)
        self.form.addRow(self.carried)
        self.form.setRowVisible(self.carried, False)
        self.model.setCurrentText(TrainConfig().model)
        self.model.currentTextChanged.connect(self._on_model_changed)
        self.dataset.currentIndexChanged.connect(lambda _: self._on_model_changed(self.model.currentText()))
        self.dataset.currentIndexChanged.connect(lambda _: self.preview.show_dataset(self.dataset_name()))
        self._on_model_changed(self.model.currentText())
        self.preview.show_dataset(self.dataset_name())

    def dataset_name(self) -> str:
        return self.dataset.currentData() or ""

    def add_dataset(self, name: str) -> None:
        """Select dataset ``name`` (e.g. ``npz:/data/x.npz``), adding it to the list if new."""
        index = self.dataset.findData(name)
        if index < 0:
            self._add_dataset_item(name, name, True)
            index = self.dataset.count() - 1
        self.dataset.setCurrentIndex(index)

    def config(self) -> RunConfig:
        """The run these widgets describe; raises `ConfigError` (one line) for nonsense."""
        model = self.model.currentText()
        train = TrainConfig(model=model, dataset=self.dataset_name(), epochs=self.epochs.value(),
                            batch_size=self.batch_size.value(), lr=self.lr.value(), lr_decay=self.lr_decay.value(),
                            seed=self.seed.value())
        config = model_config(model)
        values = {name: _value(getattr(self, name)) for name in MODEL_OPTIONS if name in options(config)}
        carried = self._carried
        if carried is not None and carried.train.model == model:  # its options the form has no widget for
            train = dataclasses.replace(carried.train, **{name: getattr(train, name) for name in ("dataset",
                                                                                                 *TRAIN_OPTIONS)})
            return RunConfig(train, dataclasses.replace(carried.model, **values))
        return RunConfig(train, config(**values))

    def set_config(self, config: RunConfig) -> None:
        """Show ``config``'s settings in the widgets (the reverse of `config`)."""
        self.add_dataset(config.train.dataset)
        self.model.setCurrentText(config.train.model)  # fills in the model's defaults, then:
        shown = [(name, config.train) for name in TRAIN_OPTIONS]
        shown += [(name, config.model) for name in MODEL_OPTIONS if hasattr(config.model, name)]
        for name, section in shown:
            widget, value = getattr(self, name), getattr(section, name)
            if isinstance(widget, QComboBox):
                widget.setCurrentText(value)
            elif value is not None:
                widget.setValue(value)
        self._carried = config
        self._show_carried(config)

    def _show_carried(self, config: RunConfig | None) -> None:
        """Name the options ``config`` sets away from their defaults that have no widget here."""
        shown = {"dataset", "model", *TRAIN_OPTIONS, *MODEL_OPTIONS}
        differ = []
        if config is not None:
            defaults = RunConfig(TrainConfig(model=config.train.model, dataset=config.train.dataset),
                                 model_config(config.train.model)())
            for section, default in ((config.train, defaults.train), (config.model, defaults.model)):
                differ += [f"{f.name} = {_short(getattr(section, f.name), 30)}" for f in dataclasses.fields(section)
                           if f.name not in shown and getattr(section, f.name) != getattr(default, f.name)]
        self.carried.setText("also set: " + ", ".join(differ))
        self.form.setRowVisible(self.carried, bool(differ))

    def show_followed(self, info: dict | None) -> None:
        """While the studio follows a run (``info`` from `kgen.services.follower.describe_run`): a kgen run's
        settings, or for another run what is known of it instead of settings that are not its.
        None: back to setting up a run here."""
        config = (info or {}).get("config")
        if config is not None:
            self.set_config(config)
        self.followed.setText(_followed_text(info))
        self.form.setRowVisible(self.followed, info is not None)
        known = info is None or config is not None
        for row in range(1, self.form.rowCount()):
            self.form.setRowVisible(row, known)
        if known:
            self._show_carried(self._carried)  # its row only when the run sets options without a widget
            self._show_rows(self.model.currentText())

    def _add_dataset_item(self, name: str, tooltip: str, available: bool) -> None:
        self.dataset.addItem(name, name)
        index = self.dataset.count() - 1
        self.dataset.setItemData(index, tooltip, Qt.ItemDataRole.ToolTipRole)
        if not available:
            self.dataset.model().item(index).setEnabled(False)

    def _on_model_changed(self, model: str) -> None:
        """Fill in the defaults of this model on this dataset, with its own choices and tooltips."""
        self._carried = None  # a config shown by set_config is left behind
        self._show_carried(None)
        config = model_config(model)
        defaults = RunConfig(TrainConfig(model=model, dataset=self.dataset_name()), config())
        self.lr.setValue(defaults.train.lr)
        self.lr_decay.setValue(defaults.train.lr_decay)
        self.batch_size.setValue(defaults.train.batch_size)
        self.epochs.setValue(defaults.train.epochs)
        fields = options(config)
        for name in MODEL_OPTIONS:
            widget = getattr(self, name)
            if name not in fields:
                continue
            widget.setToolTip(fields[name].metadata["help"])
            if isinstance(widget, QComboBox):
                widget.clear()
                widget.addItems(fields[name].metadata["choices"])
                widget.setCurrentText(getattr(defaults.model, name))
            else:
                widget.setValue(getattr(defaults.model, name))
        self._show_rows(model)

    def _show_rows(self, model: str) -> None:
        """Only the options ``model``'s config has."""
        fields = options(model_config(model))
        for name in MODEL_OPTIONS:
            widget, shown = getattr(self, name), name in fields
            self.form.setRowVisible(widget, shown)
            widget.setEnabled(shown)

    def _choose_npz(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a NumPy dataset", "", "NumPy arrays (*.npz)")
        if path:
            self.add_dataset(f"npz:{path}")

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if path:
            self.add_dataset(f"folder:{path}")


class DatasetPreview(QLabel):
    """A strip of real images of the chosen dataset, loaded in a background thread."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFixedHeight(PREVIEW_HEIGHT)
        self.setMaximumWidth(PREVIEW_WIDTH)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.name = ""
        self._loading = ""
        self.picture: np.ndarray | None = None
        self._cache: dict[str, np.ndarray] = {}
        self._job: BackgroundJob | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._poll)

    def show_dataset(self, name: str) -> None:
        """Show ``name``'s preview: at once if seen before, else when its loader thread is done."""
        self.name = name
        if name in self._cache:
            self._show(self._cache[name])
            return
        self.picture = None
        self.clear()
        self.setText(f"loading {name}…" if name else "")
        if name and self._job is None:  # one loader at a time; _poll starts the next one
            self._loading = name
            self._job = BackgroundJob(lambda: dataset_preview(load_dataset(name)), name="kgen-preview").start()
            self._timer.start()

    @property
    def busy(self) -> bool:
        return self._job is not None

    def _poll(self) -> None:
        job, name = self._job, self._loading
        if job is None or not job.done:
            return
        self._timer.stop()
        self._job = None
        if job.error is None:
            self._cache[name] = job.result()
        if name != self.name:  # the user moved on while it loaded
            self.show_dataset(self.name)
        elif job.error is not None:
            self.setText(job.error)
            self.setToolTip(job.error)
        else:
            self._show(self._cache[name])

    def _show(self, picture: np.ndarray) -> None:
        self.picture = picture
        rgb = np.ascontiguousarray(np.repeat(picture, 3, axis=2) if picture.shape[-1] == 1 else picture)
        image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
        pixmap = QPixmap.fromImage(image.copy()).scaled(
            PREVIEW_WIDTH, PREVIEW_HEIGHT, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
        self.setPixmap(pixmap)
        self.setToolTip(f"real training images of {self.name}")


def _followed_text(info: dict | None) -> str:
    """What the setup panel says of a followed run (``info`` from `kgen.services.follower.describe_run`)."""
    if info is None:
        return ""
    if info.get("config") is not None:
        return "the followed run's settings (read from its config.json)"
    if info.get("source") == "external":
        known = [f"{name} {_short(info[name])}" for name in ("model", "params", "script", "keras")
                 if info.get(name) is not None]
        return "an external run recorded by RunLogger from a script's own model.fit" + (
            f": {', '.join(known)}" if known else "")
    problem = f" ({_short(info['problem'])})" if info.get("problem") else ""
    return f"the followed run's settings are not known yet{problem}"


def _short(value: object, limit: int = 80) -> str:
    text = show_path(str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(widget: QWidget):
    """What an option widget holds: a combo box's text, a spin box's number."""
    return widget.currentText() if isinstance(widget, QComboBox) else widget.value()


def _spin(low: int, high: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    return spin
