"""PacGAN (Lin et al. 2018): D judges packs of m samples, real packs from real data, fake from fake."""

import keras
import numpy as np
import pytest

from kgen.cli import build_parser, train_options
from kgen.config import GANConfig, RunConfig, TrainConfig, option_help
from kgen.errors import ConfigError
from kgen.models import build_model, losses
from kgen.services.playground import playground_snapshot


def make_gan(shape=(2,), kind="gan", classes=0, batch_size=8, **options):
    config = RunConfig(TrainConfig(model=kind, lr=1e-3, batch_size=batch_size, seed=0),
                       GANConfig(**{"latent_dim": 2, "hidden": (16,), "filters": 8, **options}))
    return build_model(config, shape, classes)


def softplus(x):
    return np.logaddexp(0.0, x)


@pytest.mark.parametrize(("kind", "shape", "pack", "d_input"), [
    ("gan", (2,), 4, (8,)), ("gan", (8, 8, 1), 2, (8, 8, 2)), ("dcgan", (8, 8, 3), 3, (8, 8, 9))])
def test_discriminator_input_is_m_times_wider(kind, shape, pack, d_input):
    """D's input holds m examples (points end to end, images channel by channel); G is unchanged."""
    gan = make_gan(shape, kind, batch_size=6 if pack == 3 else 8, pack=pack)
    assert tuple(gan.discriminator.inputs[0].shape[1:]) == d_input
    assert tuple(gan.generator.outputs[0].shape[1:]) == shape


def test_packs_are_consecutive_examples_concatenated():
    gan = make_gan((2, 2, 3), pack=2, arch="mlp")
    x = np.arange(5 * 12, dtype=np.float32).reshape(5, 2, 2, 3)
    packed = np.asarray(gan.packed(x))
    assert packed.shape == (2, 2, 2, 6)  # the fifth example makes no whole pack: left out
    np.testing.assert_array_equal(packed[1, ..., :3], x[2])
    np.testing.assert_array_equal(packed[1, ..., 3:], x[3])


def test_pack_one_adds_no_operation():
    """With m = 1 D sees the batch itself (the very tensor), so a run trains bit for bit as before."""
    gan = make_gan(pack=1)
    x = keras.ops.convert_to_tensor(np.ones((4, 2), np.float32))
    assert gan.packed(x) is x


def test_pack_and_unroll_at_their_defaults_keep_old_fingerprints():
    plain = RunConfig(TrainConfig(model="gan"), GANConfig())
    old = RunConfig.from_dict({k: {n: v for n, v in s.items() if n not in ("pack", "unroll")}
                               for k, s in plain.to_dict().items()})
    assert plain.fingerprint() == old.fingerprint()
    assert RunConfig(TrainConfig(model="gan"), GANConfig(pack=2)).fingerprint() != plain.fingerprint()


def test_packed_discriminator_loss_is_the_formula_on_a_hand_example():
    """A linear D on packs of 2 points: logit = w . (x1, x2) + b; the loss is the binary cross
    entropy averaged over packs, -mean log D(real pack) - mean log(1 - D(fake pack))."""
    gan = make_gan(pack=2, hidden=(1,))
    w, b = np.array([0.5, -1.0, 2.0, 0.25], np.float32), np.float32(0.1)
    # Replace D by a single linear layer on the packed input.
    inputs = keras.Input((4,))
    gan.discriminator = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    gan.discriminator.layers[-1].set_weights([w[:, None], np.array([b])])
    real = np.array([[1, 0], [0, 1], [2, 2], [-1, 0]], np.float32)
    fake = np.array([[0, 0], [1, 1], [3, -1], [0.5, 0.5]], np.float32)
    real_logits, fake_logits = (np.asarray(gan._logits(x, None, training=False)) for x in (real, fake))
    by_hand = [real[0:2].ravel() @ w + b, real[2:4].ravel() @ w + b]
    np.testing.assert_allclose(real_logits[:, 0], by_hand, rtol=1e-6)
    expected = np.mean(softplus(-np.array(by_hand))) + np.mean(
        softplus([fake[0:2].ravel() @ w + b, fake[2:4].ravel() @ w + b]))
    assert float(losses.discriminator_loss(real_logits, fake_logits)) == pytest.approx(expected, rel=1e-6)


def test_packed_gan_trains_on_points_and_images():
    for shape, kind in (((2,), "gan"), ((8, 8, 1), "dcgan")):
        gan = make_gan(shape, kind, pack=2)
        x = np.random.default_rng(0).uniform(size=(16, *shape)).astype(np.float32)
        history = gan.fit(x, batch_size=8, epochs=1, verbose=0)
        assert np.isfinite(history.history["d_loss"][-1])
        assert np.isfinite(list(gan.evaluate(x[:5], verbose=0, return_dict=True).values())).all()  # 5: no whole 3rd pack


@pytest.mark.parametrize(("options", "message"), [
    ({"kind": "cgan", "classes": 10, "pack": 2}, "needs an unconditional GAN"),
    ({"batch_size": 10, "pack": 4}, "batch size divisible"),
])
def test_impossible_packs_are_refused_in_one_line(options, message):
    shape = (8, 8, 1) if options.get("kind") == "cgan" else (2,)
    with pytest.raises(ConfigError, match=message):
        make_gan(shape, **options)


def test_pack_must_be_a_whole_number_from_one():
    with pytest.raises(ConfigError, match="pack must be"):
        GANConfig(pack=0)


def test_playground_heat_map_judges_packs_of_copies():
    """The heat map at x is D of a pack of m copies of x: how real D finds m samples all at x."""
    gan = make_gan(pack=3, batch_size=6)
    box = np.array([-1, 1, -1, 1], np.float32)
    snapshot = playground_snapshot(gan, np.zeros((6, 2), np.float32), box, resolution=2)
    corner = np.array([[-0.5, -0.5]], np.float32)  # row 0, column 0's centre
    logit = np.asarray(gan.discriminator(np.tile(corner, (1, 3))))[0, 0]
    assert snapshot["d_grid"][0, 0] == pytest.approx(1 / (1 + np.exp(-logit)), rel=1e-5)
    assert snapshot["descent"].shape == (6, 2) and np.isfinite(snapshot["descent"]).all()


def test_pack_and_unroll_reach_the_cli_and_the_setup_panel(qtbot):
    args = build_parser().parse_args(["train", "gan", "--dataset", "ring8", "--pack", "2", "--unroll", "5"])
    assert (args.pack, args.unroll) == (2, 5)
    assert option_help(GANConfig, "pack") in train_options()["pack"].help()
    from gui.setup_panel import SetupPanel

    panel = SetupPanel()
    qtbot.addWidget(panel)
    panel.model.setCurrentText("gan")
    assert panel.form.isRowVisible(panel.pack) and panel.form.isRowVisible(panel.unroll)
    assert panel.pack.toolTip() == option_help(GANConfig, "pack")
    panel.pack.setValue(4)
    panel.unroll.setValue(5)
    assert (panel.config().model.pack, panel.config().model.unroll) == (4, 5)
    panel.model.setCurrentText("vae")
    assert not panel.form.isRowVisible(panel.pack)
    qtbot.waitUntil(lambda: not panel.preview.busy, timeout=30_000)
