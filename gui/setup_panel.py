"""The run setup form: dataset, model and training options, turned into a typed `RunConfig`."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QMenu,
    QPushButton,
    QSpinBox,
    QWidget,
)

from kgen.config import (
    GAN_MODELS,
    GENERATOR_LOSSES,
    MODEL_CONFIGS,
    MODELS,
    RunConfig,
    TrainConfig,
)
from kgen.data import list_datasets

PATH_FORMS = ("folder:PATH", "npz:PATH")  # listed by list_datasets; offered by the Open button instead


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
        self.model.addItems(MODELS)
        self.latent_dim = _spin(1, 512)
        self.epochs = _spin(1, 100_000)
        self.batch_size = _spin(1, 65_536)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.0, 10.0)  # 0 is allowed here so that config() can say why it is wrong
        self.lr.setSingleStep(1e-4)
        self.seed = _spin(0, 2**31 - 1)
        self.d_steps = _spin(1, 100)
        self.generator_loss = QComboBox()
        self.generator_loss.addItems(GENERATOR_LOSSES)

        data_row = QHBoxLayout()
        data_row.setContentsMargins(0, 0, 0, 0)
        data_row.addWidget(self.dataset, 1)
        data_row.addWidget(self.open_data)
        self.form = QFormLayout(self)
        self.form.addRow("dataset", data_row)
        for label, widget in (("model", self.model), ("latent dim", self.latent_dim), ("epochs", self.epochs),
                              ("batch size", self.batch_size), ("learning rate", self.lr), ("seed", self.seed),
                              ("D steps per G step", self.d_steps), ("generator loss", self.generator_loss)):
            self.form.addRow(label, widget)
        self.model.setCurrentText(TrainConfig().model)
        self.model.currentTextChanged.connect(self._on_model_changed)
        self.dataset.currentIndexChanged.connect(lambda _: self._on_model_changed(self.model.currentText()))
        self._on_model_changed(self.model.currentText())

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
                            batch_size=self.batch_size.value(), lr=self.lr.value(), seed=self.seed.value())
        options: dict = {"latent_dim": self.latent_dim.value()}
        if model in GAN_MODELS:
            options.update(d_steps=self.d_steps.value(), generator_loss=self.generator_loss.currentText())
        return RunConfig(train, MODEL_CONFIGS[model](**options))

    def _add_dataset_item(self, name: str, tooltip: str, available: bool) -> None:
        self.dataset.addItem(name, name)
        index = self.dataset.count() - 1
        self.dataset.setItemData(index, tooltip, Qt.ItemDataRole.ToolTipRole)
        if not available:
            self.dataset.model().item(index).setEnabled(False)

    def _on_model_changed(self, model: str) -> None:
        """Fill in the defaults of this model on this dataset; show the GAN-only options for GANs."""
        defaults = RunConfig(TrainConfig(model=model, dataset=self.dataset_name()), MODEL_CONFIGS[model]())
        self.lr.setValue(defaults.train.lr)
        self.batch_size.setValue(defaults.train.batch_size)
        self.epochs.setValue(defaults.train.epochs)
        self.latent_dim.setValue(defaults.model.latent_dim)
        is_gan = model in GAN_MODELS
        for widget in (self.d_steps, self.generator_loss):
            self.form.setRowVisible(widget, is_gan)
            widget.setEnabled(is_gan)

    def _choose_npz(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a NumPy dataset", "", "NumPy arrays (*.npz)")
        if path:
            self.add_dataset(f"npz:{path}")

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if path:
            self.add_dataset(f"folder:{path}")


def _spin(low: int, high: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    return spin
