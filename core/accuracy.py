"""How close one batch of images is to another: the figures every comparison of fixed point against float reports."""

from __future__ import annotations

import numpy as np


def psnr_db(reference: np.ndarray, test: np.ndarray, peak: float) -> float:
    """PSNR of ``test`` against ``reference`` over ``peak`` (the output range); inf when identical."""
    mse = float(np.mean((np.asarray(reference, np.float64) - np.asarray(test, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak**2 / mse)


def errors(images: np.ndarray, reference: np.ndarray, peak: float) -> dict:
    """``n``, ``max_abs_error``, ``mean_abs_error`` and ``psnr_db`` of ``images`` against ``reference``."""
    err = np.abs(np.asarray(images, np.float64) - np.asarray(reference, np.float64))
    return {"n": len(images), "max_abs_error": float(err.max()), "mean_abs_error": float(err.mean()),
            "psnr_db": psnr_db(reference, images, peak)}
