"""Reference: rotary position embedding (RoPE) in NumPy (float64, no Python loops).

Convention: the half-split ("rotate_half") pairing of Hugging Face's Llama and GPT-NeoX: dimension j is paired
with dimension j + d/2, and pair j turns by the angle m * theta_j at position m, theta_j = base^(-2j/d),
j = 0 .. d/2-1 (RoFormer, arXiv 2104.09864, eq. 15, counts the same pairs from 1). The paper and Meta's Llama
code pair adjacent dimensions (2j, 2j+1) instead: the same rotation, applied to a permutation of the dimensions.
"""

import numpy as np


def inv_freq(d, base):
    """theta_j = base^(-2j/d) for j = 0 .. d/2-1: shape (d/2,), from 1 down to nearly 1/base."""
    return base ** (-np.arange(0, d, 2) / d)  # (d/2,)


def cos_sin(positions, d, base):
    """cos and sin of the angles m * theta_j, each (..., T, d): dimensions j and j + d/2 share angle j."""
    angles = np.asarray(positions)[..., None] * inv_freq(d, base)  # (..., T, 1) * (d/2,) -> (..., T, d/2)
    angles = np.concatenate([angles, angles], axis=-1)  # (..., T, d): the two halves turn together
    return np.cos(angles), np.sin(angles)


def rotate_half(x):
    """(x1, x2) -> (-x2, x1) on the two halves of the last axis: the 90-degree turn of every pair."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)  # (..., T, d)


def rope(x, positions, base):
    """Rotate x (..., T, d) at integer positions (T,) or (..., T); returns a new (..., T, d) array.

    Pair (x_j, x_{j+d/2}) at position m becomes
    (x_j cos(m theta_j) - x_{j+d/2} sin(m theta_j), x_{j+d/2} cos(m theta_j) + x_j sin(m theta_j)).
    """
    d = x.shape[-1]
    assert d % 2 == 0, "RoPE needs an even feature size"
    cos, sin = cos_sin(positions, d, base)  # (..., T, d) each
    return x * cos + rotate_half(x) * sin  # (..., T, d)
