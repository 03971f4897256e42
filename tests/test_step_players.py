"""Step D and Step G (slide 27): one player's update at a time, from the model to the buttons."""

import numpy as np
import pytest
from polling import ended, poll_until

from kgen import registry
from kgen.config import GANConfig, RunConfig, TrainConfig, VAEConfig
from kgen.events import Step
from kgen.models import build_model
from kgen.services.controller import TrainingController
from kgen.services.training_process import ProcessController


def make_gan(kind="gan", shape=(8, 8, 1), classes=0):
    config = RunConfig(TrainConfig(model=kind, lr=1e-3), GANConfig(latent_dim=4, hidden=(16,), filters=8))
    return build_model(config, shape, classes)


def weights(network) -> list[np.ndarray]:
    return [np.array(w.numpy()) for w in network.trainable_weights]


def changed(before, after) -> bool:
    return any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def batch(n=16, shape=(8, 8, 1), seed=0):
    return np.random.default_rng(seed).random((n, *shape)).astype("float32")


@pytest.mark.parametrize("kind, classes", [("gan", 0), ("dcgan", 0), ("cgan", 3)])
def test_a_d_step_changes_only_d_and_a_g_step_only_g(kind, classes):
    model = make_gan(kind, classes=classes)
    data = batch() if not classes else (batch(), np.arange(16, dtype="int32") % classes)
    d0, g0 = weights(model.discriminator), weights(model.generator)
    metrics = model.player_step("discriminator", data)
    assert set(metrics) == {"d_loss", "d_real", "d_fake", "d_accuracy", "d_grad_norm"}
    assert all(np.isfinite(v) for v in metrics.values())
    d1, g1 = weights(model.discriminator), weights(model.generator)
    assert changed(d0, d1) and not changed(g0, g1)
    metrics = model.player_step("generator", data)
    assert set(metrics) == {"g_loss", "g_grad_norm"}
    d2, g2 = weights(model.discriminator), weights(model.generator)
    assert changed(g1, g2) and not changed(d1, d2)
    assert int(model.d_optimizer.iterations) == 1 and int(model.g_optimizer.iterations) == 1


def test_player_steps_run_compiled_unless_the_model_runs_eagerly():
    model = make_gan()
    model.player_step("discriminator", batch())
    assert hasattr(model._player_functions["discriminator"], "get_concrete_function")  # a tf.function
    eager = make_gan()
    eager.run_eagerly = True
    eager.player_step("generator", batch())
    assert not hasattr(eager._player_functions["generator"], "get_concrete_function")


def test_an_unknown_player_is_refused():
    with pytest.raises(ValueError, match="player must be"):
        make_gan().player_step("referee", batch())


def test_d_steps_on_a_fixed_batch_widen_the_gap_between_real_and_fake():
    import keras

    model = make_gan()
    real = batch(64)
    z = keras.random.normal((64, model.latent_dim), seed=1)

    def gap() -> float:
        d_real = keras.ops.sigmoid(model.discriminator(model.to_model_space(real)))
        d_fake = keras.ops.sigmoid(model.discriminator(model.generator(z)))
        return float(keras.ops.mean(d_real) - keras.ops.mean(d_fake))

    before = gap()
    for _ in range(50):
        model.player_step("discriminator", real)
    assert gap() > before + 0.1, (before, gap())


def test_the_registry_says_which_kinds_can_be_stepped_by_player():
    assert {s.name for s in registry.specs() if s.player_steps} == {"gan", "dcgan", "cgan", "wgan-gp"}
    assert not registry.spec("vae").player_steps


def toy_gan(epochs=500) -> RunConfig:
    return RunConfig(TrainConfig(model="gan", dataset="ring8", epochs=epochs, batch_size=32, grid_size=4),
                     GANConfig(latent_dim=2, hidden=(16,)))


def step_events(events) -> list:
    return [e for e in events if e["type"] == "step"]


@pytest.mark.parametrize("make", [TrainingController, lambda: ProcessController(keep_warm=False)],
                         ids=["thread", "process"])
def test_the_controller_steps_a_paused_run_one_player_at_a_time(make, tmp_path):
    controller = make()
    controller.start(toy_gan(), tmp_path / "run", paused=True)
    try:
        controller.step_discriminator()
        events = poll_until(controller, lambda ev: step_events(ev))
        (d_step,) = step_events(events)
        assert set(d_step["metrics"]) == {"d_loss", "d_real", "d_fake", "d_accuracy", "d_grad_norm"}
        controller.step_generator()
        events = poll_until(controller, lambda ev: step_events(ev) and any(e["type"] == "playground" for e in ev))
        (g_step,) = step_events(events)
        assert set(g_step["metrics"]) == {"g_loss", "g_grad_norm"}
        assert g_step["step"] == d_step["step"] == 0  # no batch of fit ran: still before the first
        assert controller.is_paused
    finally:
        controller.stop()
        poll_until(controller, ended)
        assert controller.join(30)


def test_a_model_that_cannot_be_stepped_by_player_refuses(tmp_path, npz):
    controller = TrainingController()
    config = RunConfig(TrainConfig(dataset=f"npz:{npz}", epochs=50, batch_size=16, grid_size=4),
                       VAEConfig(latent_dim=2, hidden=(16,)))
    controller.start(config, tmp_path / "run", paused=True)
    try:
        with pytest.raises(RuntimeError, match="cannot be stepped one player at a time"):
            controller.step_discriminator()
    finally:
        controller.stop()
        poll_until(controller, ended)
        assert controller.join(30)


# The buttons ---------------------------------------------------------------------------------


class FakeController:
    """Stands for the training process: records commands, answers hand steps with step events."""

    def __init__(self):
        self.calls, self.queue, self.is_running, self.is_paused = [], [], False, False

    def start(self, config, run_dir=None, *, paused=False):
        self.calls.append(("start", config.train.model))
        self.is_running = True
        return run_dir

    def pause(self):
        self.calls.append(("pause",))

    def resume(self):
        self.calls.append(("resume",))

    def step_discriminator(self):
        self.calls.append(("step_discriminator",))
        self.queue.append(Step(step=5, epoch=1, metrics={"d_loss": 1.2, "d_real": 0.6, "d_fake": 0.4}))

    def step_generator(self):
        self.calls.append(("step_generator",))
        self.queue.append(Step(step=5, epoch=1, metrics={"g_loss": 0.7}))

    def stop(self):
        self.is_running = False

    def join(self, timeout=None):
        return True

    def poll(self):
        events, self.queue = self.queue, []
        return events


def all_player_buttons(window):
    return [window.player_steps.step_d, window.player_steps.step_g,
            window.playground.player_steps.step_d, window.playground.player_steps.step_g]


def test_the_buttons_are_enabled_only_while_a_steppable_run_is_paused(qtbot, studio):
    from PySide6.QtCore import Qt

    fake = FakeController()
    window = studio(fake)
    window.setup_panel.model.setCurrentText("gan")
    window.setup_panel.add_dataset("ring8")
    assert not any(b.isEnabled() for b in all_player_buttons(window))
    window.start_training()
    assert window.state == "running" and not any(b.isEnabled() for b in all_player_buttons(window))
    window.pause_button.click()
    assert all(b.isEnabled() for b in all_player_buttons(window))
    with qtbot.waitSignal(window.bridge.step, timeout=5000):
        qtbot.mouseClick(window.player_steps.step_d, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.bridge.step, timeout=5000):
        qtbot.mouseClick(window.playground.player_steps.step_g, Qt.MouseButton.LeftButton)
    assert ("step_discriminator",) in fake.calls and ("step_generator",) in fake.calls
    assert list(window.curves.data("d_loss")[1]) == [1.2] and list(window.curves.data("g_loss")[1]) == [0.7]
    window.pause_button.click()  # resume
    assert not any(b.isEnabled() for b in all_player_buttons(window))
    window.stop_button.click()


def test_a_vae_run_never_enables_them(qtbot, studio, npz):
    window = studio(FakeController())
    window.setup_panel.model.setCurrentText("vae")
    window.setup_panel.add_dataset(f"npz:{npz}")
    window.start_training()
    window.pause_button.click()
    assert window.step_button.isEnabled() and not any(b.isEnabled() for b in all_player_buttons(window))


def test_step_d_and_step_g_in_the_real_app(qtbot, studio):
    """One tiny GAN run in the training process: pause it, then play D and G by hand."""
    window = studio()
    window.setup_panel.model.setCurrentText("gan")
    window.setup_panel.add_dataset("ring8")
    window.setup_panel.epochs.setValue(500)
    with qtbot.waitSignal(window.bridge.step, timeout=120_000):
        window.start_button.click()
    window.pause_button.click()
    qtbot.wait(1500)  # the batch in flight lands
    d_before = window.curves.data("d_loss")[0].size
    with qtbot.waitSignal(window.bridge.step, timeout=60_000,
                          check_params_cb=lambda e: "d_loss" in e["metrics"] and "g_loss" not in e["metrics"]):
        window.player_steps.step_d.click()
    with qtbot.waitSignal(window.bridge.playground, timeout=60_000):
        window.playground.player_steps.step_g.click()
    qtbot.wait(300)
    assert window.curves.data("d_loss")[0].size == d_before + 1
    assert window.state == "paused" and window.pause_button.text() == "Resume"
    with qtbot.waitSignal(window.bridge.finished, timeout=60_000):
        window.stop_button.click()
