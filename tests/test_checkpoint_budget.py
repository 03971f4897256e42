"""The Checkpointer spaces its saves by their cost, yet keeps the last epoch and the best one."""

import json

import keras
import numpy as np
import pytest

from kgen.config import RunConfig
from kgen.runs import Run
from kgen.train.callbacks import Checkpointer


@pytest.fixture
def model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def epochs(checkpointer, model, losses, *, epochs, shift=1.0):
    """Run the callback through epochs with these validation losses, moving the weights each epoch."""
    snapshots = {}
    checkpointer.set_model(model)
    checkpointer.set_params({"epochs": epochs})
    for epoch, loss in enumerate(losses):
        checkpointer.on_epoch_begin(epoch)
        model.set_weights([w + shift for w in model.get_weights()])
        snapshots[epoch + 1] = model.get_weights()
        checkpointer.on_epoch_end(epoch, {"val_loss": loss})
    return snapshots


def saved_weights(path):
    return keras.saving.load_model(path).get_weights()


def test_cheap_epochs_save_first_last_and_the_best_from_memory(tmp_path, model):
    run = Run.create(tmp_path / "run", RunConfig())
    checkpointer = Checkpointer(run, budget=1e-9)  # any save is too dear to repeat
    snapshots = epochs(checkpointer, model, [5.0, 3.0, 4.0, 4.5], epochs=4)
    checkpointer.on_train_end()
    assert sorted(p.name for p in run.checkpoints_dir.glob("*.keras")) == ["best.keras", "latest-0004.keras"]
    assert json.loads((run.checkpoints_dir / "best.json").read_text())["epoch"] == 2
    for got, want in zip(saved_weights(run.best_path), snapshots[2], strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(model.get_weights(), snapshots[4], strict=True):  # the live weights are back
        np.testing.assert_array_equal(got, want)


def test_dear_saves_still_happen_every_epoch_when_epochs_are_long(tmp_path, model):
    run = Run.create(tmp_path / "run", RunConfig())
    checkpointer = Checkpointer(run, budget=1e9)  # every save is cheap next to an epoch
    checkpointer.set_model(model)
    checkpointer.set_params({"epochs": 10})
    for epoch in range(3):
        checkpointer.on_epoch_begin(epoch)
        checkpointer.on_epoch_end(epoch, {"val_loss": 1.0})
        assert run.latest_checkpoint()[1] == epoch + 1


def test_a_stop_saves_the_last_whole_epoch_but_not_a_partial_one(tmp_path, model):
    run = Run.create(tmp_path / "run", RunConfig())
    checkpointer = Checkpointer(run, budget=1e-9)
    epochs(checkpointer, model, [5.0, 6.0], epochs=10)
    assert run.latest_checkpoint()[1] == 1  # epoch 2 was not worth a save yet
    checkpointer.on_train_end()  # a stop right after epoch 2
    assert run.latest_checkpoint()[1] == 2

    run = Run.create(tmp_path / "cut", RunConfig())
    checkpointer = Checkpointer(run, budget=1e-9)
    epochs(checkpointer, model, [5.0, 6.0], epochs=10)
    checkpointer.on_epoch_begin(2)  # a stop inside epoch 3: weights of no whole epoch
    checkpointer.on_train_end()
    assert run.latest_checkpoint()[1] == 1
