import numpy as np
import pytest

from pssr_live.metrics import fit_to, nrmse, psnr, score, ssim


def test_psnr_known_value():
    a = np.zeros((10, 10), np.float32)
    b = np.full((10, 10), 0.1, np.float32)
    assert psnr(b, a) == pytest.approx(20.0)
    assert psnr(a, a) == float("inf")


def test_ssim_identity_and_noise():
    rng = np.random.default_rng(0)
    img = rng.random((64, 64)).astype(np.float32)
    assert ssim(img, img) == pytest.approx(1.0)
    noisy = img + rng.normal(0, 0.3, img.shape).astype(np.float32)
    assert ssim(noisy, img) < 0.9


def test_fit_removes_scale_and_offset():
    rng = np.random.default_rng(1)
    target = rng.random((32, 32)).astype(np.float32)
    np.testing.assert_allclose(fit_to(3.0 * target + 7.0, target), target, atol=1e-5)


def test_score_is_invariant_to_affine_changes_of_the_prediction():
    rng = np.random.default_rng(2)
    gt = rng.random((48, 48)).astype(np.float32)
    pred = gt + rng.normal(0, 0.05, gt.shape).astype(np.float32)
    s1, s2 = score(pred, gt), score(100 * pred + 5, gt)
    assert s1.psnr == pytest.approx(s2.psnr, abs=1e-3)
    assert s1.ssim == pytest.approx(s2.ssim, abs=1e-4)
    assert nrmse(gt, gt) == 0.0
    with pytest.raises(ValueError, match="differ"):
        score(pred[:10], gt)
