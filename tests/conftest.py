"""Shared test setup: offline, TensorFlow backend, and small datasets written on the fly."""

import os
import tempfile

os.environ["KGEN_OFFLINE"] = "1"  # tests never download
os.environ["KGEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="kgen-test-cache-")  # never the user's cache
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="kgen-test-config-")  # QSettings: never the user's
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # GUI tests run headless
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gc  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gui.collector import collect_due  # noqa: E402


def pytest_configure(config):
    """Garbage is collected in the main thread only, between tests (gui/collector.py says why: a
    collection in a test's training thread freed an earlier test's Qt window there and deadlocked)."""
    gc.disable()


def pytest_runtest_teardown(item, nextitem):
    collect_due()


@pytest.fixture(scope="session")
def digits():
    """The real 8x8 digits, (train, test) images in [0, 1]."""
    from kgen.data import load_dataset

    data = load_dataset("digits")
    return data.x_train, data.x_test


@pytest.fixture
def tiny_npz(tmp_path):
    """A small real .npz dataset of 8x8 blobs, for runs that must finish in seconds."""
    rng = np.random.default_rng(0)
    x = np.zeros((96, 8, 8, 1), np.float32)
    for i in range(len(x)):
        r, c = rng.integers(1, 6, size=2)
        x[i, r : r + 3, c : c + 3, 0] = 1.0
    path = tmp_path / "blobs.npz"
    np.savez(path, x=x, y=rng.integers(0, 3, size=len(x)))
    return path


@pytest.fixture(scope="session")
def npz(tmp_path_factory):
    """64 random 8x8 images in an .npz (4 batches of 16 an epoch): the smallest real dataset."""
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x=np.random.default_rng(0).random((64, 8, 8, 1)).astype("float32"))
    return path


@pytest.fixture(scope="session")
def vae_file(tmp_path_factory):
    """An untrained 2-d VAE for 8x8 images, saved as .keras: the model the explorer's views load."""
    from kgen.config import RunConfig, TrainConfig, VAEConfig
    from kgen.models import build_model

    path = tmp_path_factory.mktemp("vae") / "vae.keras"
    build_model(RunConfig(TrainConfig(), VAEConfig(latent_dim=2, hidden=(16,))), (8, 8, 1)).save(path)
    return path


@pytest.fixture
def studio(qtbot, tmp_path):
    """Makes main windows (``studio(controller=None, **options)``) with runs under tmp_path; each
    closed after the test, which stops a run it left going."""
    from gui.main_window import MainWindow

    made = []

    def make(controller=None, **options):
        window = MainWindow(runs_root=tmp_path / "runs", controller=controller, **options)
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield make
    for window in made:
        window.close()


@pytest.fixture
def latent_view(qtbot):
    """A fresh latent explorer, nothing loaded; its worker closed after the test."""
    from gui.latent_explorer.latent_view import LatentView

    view = LatentView()
    qtbot.addWidget(view)
    yield view
    view.close_service()


@pytest.fixture
def show_snapshot(qtbot):
    """``show_snapshot(view, event)``: a live view (closed with the test) with the snapshot
    ``event`` drawn now rather than at the view's pace; returns the view."""

    def show(view, event):
        qtbot.addWidget(view)
        view.add_snapshot(event)
        view.flush()
        return view

    return show


@pytest.fixture
def vae_studio(studio, npz):
    """A studio window whose setup panel trains a 2-d VAE on the tiny .npz, 16 images a batch;
    the test sets the epochs (and anything else) and clicks Start."""
    window = studio()
    panel = window.setup_panel
    panel.model.setCurrentText("vae")
    panel.add_dataset(f"npz:{npz}")
    panel.latent_dim.setValue(2)
    panel.batch_size.setValue(16)
    return window
