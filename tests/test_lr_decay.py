"""The learning-rate decay (TrainConfig.lr_decay): its schedule against the formula, every
optimizer of a model following it, and a resumed run continuing the same schedule."""

from __future__ import annotations

import pytest

from kgen.config import GANConfig, RunConfig, TrainConfig, VAEConfig
from kgen.errors import ConfigError
from kgen.runs import read_events
from kgen.train.callbacks import FINAL_LR_SHARE, decayed_lr, model_optimizers
from kgen.train.training import train


@pytest.mark.parametrize(("progress", "expected"), [(0.0, 1e-3), (0.5, 1e-3), (0.75, 1e-3),
                                                    (0.875, 1e-3 * (1 - 0.99 / 2)), (1.0, 1e-5)])
def test_schedule_is_constant_then_falls_linearly_to_a_hundredth(progress, expected):
    assert decayed_lr(1e-3, 0.25, progress) == pytest.approx(expected)


def test_no_decay_keeps_the_rate_and_a_whole_decay_starts_at_once():
    assert decayed_lr(2e-4, 0.0, 1.0) == 2e-4
    assert decayed_lr(2e-4, 1.0, 0.5) == pytest.approx(2e-4 * (1 - 0.99 * 0.5))
    assert FINAL_LR_SHARE == 0.01


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "half"])
def test_decay_must_be_a_share(bad):
    with pytest.raises(ConfigError, match="lr_decay must be a share in"):
        TrainConfig(model="gan", dataset="ring8", lr_decay=bad)


def test_no_decay_keeps_old_fingerprints():
    plain = RunConfig(TrainConfig(model="vae"), VAEConfig())
    old = RunConfig.from_dict({k: {n: v for n, v in s.items() if n != "lr_decay"}
                               for k, s in plain.to_dict().items()})
    assert plain.fingerprint() == old.fingerprint()
    assert RunConfig(TrainConfig(model="vae", lr_decay=0.2), VAEConfig()).fingerprint() != plain.fingerprint()


def epoch_rates(events_path) -> list[float]:
    return [e["metrics"]["lr"] for e in read_events(events_path) if e["type"] == "epoch"]


def test_both_gan_players_follow_the_decay_and_a_resume_continues_it(tmp_path):
    config = RunConfig(TrainConfig(model="gan", dataset="ring8", epochs=2, batch_size=500, lr=1e-3,
                                   lr_decay=0.5, sample_every=10), GANConfig(hidden=(16,)))
    result = train(config, tmp_path / "run", verbose=0)
    rates = epoch_rates(result.run.events_path)
    steps = 10_000 // 500
    # Epoch 1 ends before the decay; epoch 2 ends on its last batch's rate, one step short of the end.
    assert rates[0] == pytest.approx(1e-3)
    assert rates[1] == pytest.approx(decayed_lr(1e-3, 0.5, (2 * steps - 1) / (2 * steps)), rel=1e-5)
    config.train.epochs = 4
    train(config, tmp_path / "run", resume=True, verbose=0)
    rates = epoch_rates(result.run.events_path)
    assert len(rates) == 4 and rates[2] > rates[3]  # the schedule of 4 epochs: falling through epochs 3 and 4
    assert rates[3] == pytest.approx(decayed_lr(1e-3, 0.5, (4 * steps - 1) / (4 * steps)), rel=1e-5)


def test_model_optimizers_are_each_players_once():
    from kgen.models import build_model

    gan = build_model(RunConfig(TrainConfig(model="gan", dataset="ring8"), GANConfig(hidden=(8,))), (2,))
    optimizers = model_optimizers(gan)
    assert gan.d_optimizer in optimizers and gan.g_optimizer in optimizers
    assert optimizers[-1] is gan.g_optimizer and len(optimizers) == len({id(o) for o in optimizers})


def test_the_setup_panel_sets_and_shows_the_decay(qtbot):
    from gui.setup_panel import SetupPanel

    panel = SetupPanel()
    qtbot.addWidget(panel)
    panel.model.setCurrentText("gan")
    assert panel.config().train.lr_decay == 0.0
    panel.lr_decay.setValue(0.25)
    config = panel.config()
    assert config.train.lr_decay == 0.25
    other = SetupPanel()
    qtbot.addWidget(other)
    other.set_config(config)
    assert other.lr_decay.value() == 0.25 and other.config().train.lr_decay == 0.25
