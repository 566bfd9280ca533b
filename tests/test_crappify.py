"""Crappifiers: the paper's noise model and the confocal physics, on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from pssr_live.crappify import ConfocalCrappifier, PaperCrappifier, make_crappifier


def test_paper_crappifier_noise_levels_and_downsampling() -> None:
    hr = np.full((5, 64, 64), 0.5, np.float32)
    lr = PaperCrappifier(salt_pepper=0.0)(hr, np.random.default_rng(0))
    assert lr.shape == (5, 16, 16) and lr.dtype == np.float32
    assert abs(float(lr.mean()) - 127.5) < 1.0  # the 0-255 scale
    # order-1 downsampling of white noise keeps it roughly (sigma 5 on the 0-255 scale)
    assert 2.0 < float(lr.std()) < 6.0
    assert not np.allclose(lr[0], lr[1])  # independent noise per frame


def test_paper_salt_and_pepper_fraction() -> None:
    hr = np.full((1, 400, 400), 0.5, np.float32)
    crap = PaperCrappifier(sigma=0.0, scale=1)
    lr = crap(hr, np.random.default_rng(1))[0]
    frac = float(np.mean(lr != 127.5))
    assert 0.004 < frac < 0.006
    assert set(np.unique(lr[lr != 127.5])) <= {0.0, 255.0}


def test_paper_local_variance_form_scales_with_signal() -> None:
    hr = np.zeros((1, 128, 128), np.float32)
    hr[0, :, 64:] = 1.0
    lr = PaperCrappifier(local_var=True, salt_pepper=0.0, scale=1)(hr, np.random.default_rng(0))
    assert lr[0, :, 100:].std() > 5 * lr[0, :, :20].std()


def test_confocal_crappifier_same_microscope_independent_noise() -> None:
    hr = np.zeros((5, 64, 64), np.float32)
    hr[:, 20:44, 20:44] = 1.0
    lr = ConfocalCrappifier()(hr, np.random.default_rng(3))
    assert lr.shape == (5, 16, 16) and lr.dtype == np.float32
    inside, outside = lr[:, 7:9, 7:9].mean(), lr[:, :2, :2].mean()
    assert inside > outside  # the bright square survives the degradation
    assert not np.array_equal(lr[0], lr[1])


def test_make_crappifier_names() -> None:
    assert make_crappifier("paper").name == "paper"
    assert make_crappifier("confocal").name == "confocal"
    with pytest.raises(ValueError, match="unknown crappifier"):
        make_crappifier("jpeg")
    with pytest.raises(ValueError, match="multiples of 4"):
        PaperCrappifier()(np.zeros((5, 30, 32)), np.random.default_rng(0))
