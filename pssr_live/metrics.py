"""Image quality against ground truth: PSNR, SSIM and NRMSE after the same normalisation.

Every method is scored the same way, as CARE and PSSR do: the ground truth is percentile
normalised, and each prediction is mapped onto it by the least-squares affine fit
(`fit_to`), so a method is not rewarded or punished for its intensity scale or offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter


def percentile_normalize(image: np.ndarray, low: float = 0.1, high: float = 99.9) -> np.ndarray:
    """Scale so that the `low` and `high` percentiles become 0 and 1 (float32)."""
    lo, hi = np.percentile(image, [low, high])
    return ((image - lo) / max(float(hi - lo), 1e-6)).astype(np.float32)


def fit_to(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The affine map a*prediction+b closest to `target` in least squares."""
    p = prediction.astype(np.float64).ravel()
    t = target.astype(np.float64).ravel()
    p_mean, t_mean = p.mean(), t.mean()
    var = np.mean((p - p_mean) ** 2)
    a = np.mean((p - p_mean) * (t - t_mean)) / var if var > 0 else 0.0
    return (a * (prediction - p_mean) + t_mean).astype(np.float32)


def psnr(prediction: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    mse = float(np.mean((prediction.astype(np.float64) - target) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range**2 / mse)


def ssim(prediction: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    """Mean SSIM with a Gaussian window (sigma 1.5), as in Wang et al. 2004."""
    x = prediction.astype(np.float64)
    y = target.astype(np.float64)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(a: np.ndarray) -> np.ndarray:
        return gaussian_filter(a, 1.5, truncate=3.5)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


def nrmse(prediction: np.ndarray, target: np.ndarray) -> float:
    """Root-mean-square error over the target's root-mean-square (both normalised)."""
    err = np.sqrt(np.mean((prediction.astype(np.float64) - target) ** 2))
    return float(err / max(np.sqrt(np.mean(target.astype(np.float64) ** 2)), 1e-12))


@dataclass(frozen=True, slots=True)
class Score:
    psnr: float
    ssim: float
    nrmse: float


def score(prediction: np.ndarray, ground_truth: np.ndarray) -> Score:
    """Normalise the ground truth, fit the prediction to it, then measure."""
    if prediction.shape != ground_truth.shape:
        raise ValueError(
            f"prediction {prediction.shape} and ground truth {ground_truth.shape} differ"
        )
    target = percentile_normalize(ground_truth)
    fitted = fit_to(prediction, target)
    return Score(psnr(fitted, target), ssim(fitted, target), nrmse(fitted, target))
