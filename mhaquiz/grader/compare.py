"""Compare one output against its expected value and say precisely how it differs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from mhaquiz.grader.spec import Tolerance


@dataclass
class OutputCheck:
    """The verdict on one named output of one case."""

    name: str
    passed: bool
    problem: Optional[str] = None  # None when passed; else "missing", "shape", "dtype", "not finite", "values", ...
    detail: str = ""
    max_abs_err: Optional[float] = None
    rel_err: Optional[float] = None  # max |got - expected| / max(max |expected|, floor / rtol)
    worst_index: Optional[tuple] = None
    expected_value: Optional[float] = None
    got_value: Optional[float] = None

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def error_size(got: np.ndarray, expected: np.ndarray, tol: Tolerance, floor: float):
    """(max abs error, scale-relative error, index of the worst element); NaN/inf count as infinitely wrong."""
    diff = np.abs(got - expected)
    both_same_inf = np.isinf(got) & (got == expected)
    diff = np.where(both_same_inf, 0.0, np.nan_to_num(diff, nan=np.inf, posinf=np.inf))
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    max_abs = float(diff[worst]) if diff.size else 0.0
    finite = expected[np.isfinite(expected)]
    scale = max(float(np.abs(finite).max()) if finite.size else 0.0, floor / tol.rtol)
    return max_abs, max_abs / scale, tuple(int(i) for i in worst)


def compare_output(name: str, got, expected: np.ndarray, tol: Tolerance, floor: float) -> OutputCheck:
    """Check `got` against `expected` under `tol` (absolute floor `floor`), with the worst element if it fails."""
    if got is None:
        return OutputCheck(name, False, "missing", f"no output named {name!r} was returned")
    if got.shape != expected.shape:
        return OutputCheck(name, False, "shape", f"shape {got.shape}, expected {expected.shape}")
    if got.dtype != expected.dtype:
        return OutputCheck(name, False, "dtype", f"dtype {got.dtype}, expected {expected.dtype} (float64 throughout)")
    max_abs, rel, worst = error_size(got, expected, tol, floor)
    close = np.isclose(got, expected, rtol=tol.rtol, atol=floor, equal_nan=True)
    if close.all():
        return OutputCheck(name, True, max_abs_err=max_abs, rel_err=rel)
    bad_finite = not np.isfinite(got).all() and np.isfinite(expected).all()
    return OutputCheck(
        name, False, "not finite" if bad_finite else "values",
        f"{int((~close).sum())} of {close.size} elements off" + (" (NaN/inf where the reference is finite)" if bad_finite else ""),
        max_abs_err=max_abs, rel_err=rel, worst_index=worst,
        expected_value=float(expected[worst]), got_value=float(got[worst]),
    )


def matches(got, expected: np.ndarray, tol: Tolerance, floor: float) -> bool:
    """Same shape and close everywhere (NaN matching NaN): used to compare with a mutant."""
    if got is None or got.shape != expected.shape:
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.isclose(got, expected, rtol=tol.rtol * 10, atol=floor * 10, equal_nan=True).all())
