"""Slide 20's dream walk (a smooth random walk through the prior) and slide 9's draws from p(x|z)
in the latent explorer's sliders page."""

import numpy as np
import pytest

from kgen.services.explorer import DreamWalk

pytest.importorskip("PySide6")

from gui.latent_explorer.latent_view import STEP, LatentView  # noqa: E402
from gui.latent_explorer.walk_player import WalkPlayer, frames_per_leg  # noqa: E402

TIMEOUT_MS = 60_000


def walk_path(seed: int, steps: int, latent_dim: int = 8, steps_per_leg: int = 20) -> np.ndarray:
    walk = DreamWalk(latent_dim, seed=seed, steps_per_leg=steps_per_leg)
    return np.array([walk.step() for _ in range(steps)])


def test_the_walk_is_deterministic_for_a_seed():
    np.testing.assert_array_equal(walk_path(7, 300), walk_path(7, 300))
    assert not np.array_equal(walk_path(7, 300), walk_path(8, 300))


def test_the_walk_stays_at_the_priors_typical_radius_and_in_the_sliders_range():
    path = walk_path(0, 20_000, latent_dim=8)
    assert np.abs(path).max() <= 3.0 * np.sqrt(8)  # never beyond the clipped keyframes' sphere
    assert np.mean(np.sum(path**2, axis=1)) / 8 == pytest.approx(1.0, abs=0.15)  # E|z|^2 = D under N(0, I)
    assert np.abs(path.mean(axis=0)).max() < 0.2  # centred on the prior's mean


def test_the_walk_is_smooth_with_bounded_steps():
    for steps_per_leg in (10, 40):
        path = walk_path(1, 4000, latent_dim=4, steps_per_leg=steps_per_leg)
        steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
        # a leg turns at most pi around a sphere of radius <= 6 (clipped to 3 per dim), eased: peak speed pi/2 x mean
        assert steps.max() <= (np.pi / 2) * np.pi * 6.0 / steps_per_leg
        second = np.linalg.norm(np.diff(path, n=2, axis=0), axis=1)
        assert second.max() < steps.max()  # no jump in direction between legs: eased to rest at keyframes


def test_the_walk_starts_where_the_sliders_are():
    start = np.array([1.0, -2.0], np.float32)
    first = DreamWalk(2, seed=0, start=start, steps_per_leg=50).step()
    assert np.linalg.norm(first - start) < 0.05


def test_frames_per_leg_speeds_up_and_never_reaches_zero():
    assert frames_per_leg(1) > frames_per_leg(5) > frames_per_leg(10) >= 1


def test_the_player_waits_for_each_frame_to_be_decoded(qtbot):
    ready = {"value": False}
    player = WalkPlayer(ready=lambda: ready["value"], seed=0)
    qtbot.addWidget(player)
    frames = []
    player.frame.connect(frames.append)
    player.set_start(lambda: np.zeros(3, np.float32))
    player.play_button.click()
    qtbot.wait(200)
    assert frames == [] and player.playing  # the decoder never answered: no frame piles up
    ready["value"] = True
    qtbot.waitUntil(lambda: len(frames) >= 3, timeout=5000)
    player.pause()
    count = len(frames)
    qtbot.wait(150)
    assert len(frames) == count and player.play_button.text() == "Play dream walk"


@pytest.fixture
def view(qtbot, vae_file):
    view = LatentView()
    qtbot.addWidget(view)
    view.load_model(vae_file)
    qtbot.waitUntil(lambda: len(view.sliders) == 2, timeout=TIMEOUT_MS)
    yield view
    view.close_service()


def test_the_sliders_follow_the_walk_and_the_decoder_never_falls_behind(qtbot, view):
    backlog = []
    original = view.service.request

    def request(z, label=None):
        backlog.append(view.service.decoding)  # a request while one waits would be a backlog
        original(z, label)

    view.service.request = request
    view.walk_player.speed.setValue(10)
    view.walk_player.play_button.click()
    qtbot.waitUntil(lambda: view.walk_player.frames >= 15, timeout=TIMEOUT_MS)
    view.walk_player.pause()
    assert backlog and not any(backlog)
    assert [s.value() for s in view.sliders] == [round(float(z) / STEP) for z in view.z]
    assert np.abs(view.z).sum() > 0  # it moved away from zero
    view.sliders[0].setValue(10)  # a hand on a slider takes over
    assert not view.walk_player.playing


def test_the_sliders_page_shows_draws_from_p_x_given_z_for_the_current_z(qtbot, view):
    view.set_z(np.array([1.0, -0.5], np.float32))
    qtbot.waitUntil(lambda: view.draws.draws[-1].picture() is not None, timeout=TIMEOUT_MS)
    draws = [panel.picture() for panel in view.draws.draws]
    assert all(set(np.unique(d)) <= {0.0, 1.0} for d in draws)  # Bernoulli pixels
    np.testing.assert_allclose(view.draws.mean.picture(), view.decoded.picture(), atol=1e-5)
    assert "Bernoulli" in view.draws.note.text()
