"""Lesson formulas typeset offline by kgen.services.formulas: a picture of plausible size, cached,
and a formula mathtext cannot typeset refused in one line."""

import threading

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from kgen.lessons import shipped  # noqa: E402
from kgen.services.formulas import FormulaError, cache_info, render  # noqa: E402

KL = r"$D_{KL} = \frac{1}{2}\sum_j (\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1)$"


def test_a_formula_renders_to_a_non_empty_rgba_picture_of_plausible_size():
    picture = render(KL, 16, "#102030")
    height, width, channels = picture.shape
    assert picture.dtype == np.uint8 and channels == 4
    assert 20 <= height <= 120 and 200 <= width <= 900  # one line of 16-point mathematics
    ink = picture[..., 3] > 0
    assert 0.02 < ink.mean() < 0.6  # drawn, on a transparent background
    assert (picture[ink][:, :3].astype(int) - [0x10, 0x20, 0x30]).__abs__().max() < 8  # in the colour asked
    bigger = render(KL, 32, "#102030")
    assert 1.7 < bigger.shape[1] / width < 2.3  # twice the points, about twice the width


def test_renders_are_cached_and_read_only():
    first = render(r"$\log p(x) \geq \mathrm{ELBO}$", 13, "#000000")
    hits = cache_info().hits
    again = render(r"$\log p(x) \geq \mathrm{ELBO}$", 13, "#000000")
    assert again is first and cache_info().hits == hits + 1
    assert not first.flags.writeable
    assert render(r"$\log p(x) \geq \mathrm{ELBO}$", 13, "#ff0000") is not first  # the colour is part of the key


@pytest.mark.parametrize("tex", [r"$\frac{1}{2$", r"$\notacommand x$", "no dollars", r"$x"])
def test_a_formula_that_does_not_typeset_is_one_line_error(tex):
    with pytest.raises(FormulaError) as caught:
        render(tex)
    assert "\n" not in str(caught.value) and str(caught.value)


def test_every_shipped_formula_renders_while_the_loader_reads_lessons_in_another_thread():
    """mathtext is not thread-safe: rendering holds the lesson loader's lock, so neither breaks."""
    texes = [f.tex for item in shipped() if hasattr(item, "formulas") for f in item.formulas]
    pictures, errors = [], []
    worker = threading.Thread(target=lambda: [pictures.append(render(t, 11.5)) for t in texes])
    worker.start()
    for _ in range(3):
        errors += [str(item) for item in shipped() if not hasattr(item, "formulas")]
    worker.join(120)
    assert not errors and len(pictures) == len(texes) >= 17
    assert all(p.shape[0] > 8 and p.shape[1] > 8 for p in pictures)
