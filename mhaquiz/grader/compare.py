"""Compare one output with its expected value and say precisely how it differs.

Problems (the `problem` code of a failing OutputCheck; their words are `problem.<code>` in the catalogues):
missing, type, too_large, shape, dtype, not_finite (NaN/inf where the reference is finite), values, precision
(off, but only by float32-sized errors: see spec.PRECISION_RTOL), finite_differences, no_gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from mhaquiz.grader.spec import MATCH_RTOL, PRECISION_FACTOR, PRECISION_RTOL, Tolerance

MISMATCH_PROBLEMS = ("values", "not_finite", "shape")  # what a mutant may explain


@dataclass
class OutputCheck:
    """The verdict on one named output of one case; `params` fill the problem's message."""

    name: str
    passed: bool
    problem: Optional[str] = None
    params: dict = field(default_factory=dict)
    max_abs_err: Optional[float] = None
    rel_err: Optional[float] = None  # max |got - expected| / the case's scale
    worst: Optional[dict] = None  # the element furthest outside its tolerance: index, expected, got, allowed

    def to_dict(self) -> dict:
        data = {"name": self.name, "passed": self.passed, "problem": self.problem, "params": self.params,
                "max_abs_err": self.max_abs_err, "rel_err": self.rel_err, "worst": self.worst}
        return {key: value for key, value in data.items() if value is not None and value != {}}


def allowed(expected: np.ndarray, tol: Tolerance, scale: float) -> np.ndarray:
    """Elementwise tolerance: atol * scale + rtol * |expected|."""
    with np.errstate(all="ignore"):
        return tol.atol * scale + tol.rtol * np.abs(np.nan_to_num(expected, nan=0.0, posinf=0.0, neginf=0.0))


def errors(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|got - expected| elementwise, with NaN/inf mismatches infinitely wrong and matching ones exactly 0."""
    with np.errstate(all="ignore"):
        diff = np.abs(got.astype(np.float64) - expected)
        same = (got == expected) | (np.isnan(got) & np.isnan(expected))
        return np.where(same, 0.0, np.nan_to_num(diff, nan=np.inf, posinf=np.inf))


def compare_output(name: str, got: Optional[np.ndarray], expected: np.ndarray, tol: Tolerance, scale: float,
                   float32_error: Optional[float] = None) -> OutputCheck:
    """Check `got` against `expected` under `tol`; when it fails, the worst element and whether the miss is
    float32-sized (`float32_error`: how far the reference itself lands from float64 when run in float32)."""
    if got is None:
        return OutputCheck(name, False, "missing")
    if got.shape != expected.shape:
        return OutputCheck(name, False, "shape", {"got": list(got.shape), "expected": list(expected.shape)})
    if got.dtype != expected.dtype:
        return OutputCheck(name, False, "dtype", {"got": str(got.dtype), "expected": str(expected.dtype)})
    error = errors(got, expected)
    limit = allowed(expected, tol, scale)
    bad = error > limit
    max_abs = float(error.max()) if error.size else 0.0
    check = OutputCheck(name, True, max_abs_err=max_abs, rel_err=max_abs / scale)
    if not bad.any():
        return check
    check.passed = False
    with np.errstate(all="ignore"):
        ratio = np.where(bad, error / limit, -1.0)
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    check.worst = {"index": [int(i) for i in worst], "expected": float(expected[worst]), "got": float(got[worst]),
                   "allowed": float(limit[worst])}
    check.params = {"bad": int(bad.sum()), "total": int(bad.size)}
    if not np.isfinite(got[bad]).all() and np.isfinite(expected[bad]).all():
        check.problem = "not_finite"
    elif np.isfinite(error).all() and (error <= precision_band(expected, scale, float32_error)).all():
        check.problem = "precision"
        check.params["rel"] = max_abs / scale
    else:
        check.problem = "values"
    return check


def precision_band(expected: np.ndarray, scale: float, float32_error: Optional[float]) -> np.ndarray:
    """How far from the reference a float32-sized error can land (see spec.PRECISION_RTOL)."""
    with np.errstate(all="ignore"):
        band = PRECISION_RTOL * scale + PRECISION_RTOL * np.abs(np.nan_to_num(expected, posinf=0.0, neginf=0.0))
    return band + PRECISION_FACTOR * (float32_error or 0.0)


def differs(mutant: np.ndarray, expected: np.ndarray, scale: float, float32_error: Optional[float]) -> bool:
    """Whether a mutant's output differs from the reference's by more than any precision slip could."""
    if mutant.shape != expected.shape:
        return True
    return bool((errors(mutant, expected) > precision_band(expected, scale, float32_error)).any())


def matches(got: Optional[np.ndarray], mutant: np.ndarray, scale: float) -> bool:
    """Same shape and within MATCH_RTOL of the mutant's output (NaN matching NaN, inf matching inf)."""
    if got is None or got.shape != mutant.shape:
        return False
    with np.errstate(all="ignore"):
        limit = MATCH_RTOL * scale + MATCH_RTOL * np.abs(np.nan_to_num(mutant, nan=0.0, posinf=0.0, neginf=0.0))
    return bool((errors(got, mutant) <= limit).all())
