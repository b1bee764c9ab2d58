"""Check gradients against finite differences along random directions.

For f(x) = sum(forward(x) * d_out) and a random direction u per input, the central difference
(f(x + eps u) - f(x - eps u)) / (2 eps) must equal <grad_x, u>: two forward calls per input checked,
not two per element.
"""

from __future__ import annotations

import copy
from typing import Callable, Dict, Iterable, List

import numpy as np

from mhaquiz.grader.compare import OutputCheck

EPS = 1e-6
RTOL = 1e-5  # central differences in float64 with eps = 1e-6 agree to ~1e-9 relative


def _locate(args: Dict, name: str):
    """('params', 'W_q') style lookup: the dict holding `name` and its key."""
    holder = args
    *parents, key = name.split(".")
    for parent in parents:
        holder = holder[parent]
    return holder, key


def directional_checks(forward: Callable[[Dict], np.ndarray], args: Dict, d_out: np.ndarray,
                       grads: Dict[str, np.ndarray], wrt: Iterable[str], seed: int = 0) -> List[OutputCheck]:
    """One OutputCheck "fd:<name>" per input in `wrt` (dotted names for dict entries, grads keyed by last part)."""
    rng = np.random.default_rng(seed)
    checks, slopes = [], {}
    for name in wrt:
        key = name.split(".")[-1]
        value = _locate(args, name)[0][_locate(args, name)[1]]
        direction = rng.standard_normal(value.shape)
        values = []
        for sign in (1.0, -1.0):
            shifted = copy.deepcopy(args)
            holder, last = _locate(shifted, name)
            holder[last] = value + sign * EPS * direction
            values.append(float(np.sum(forward(shifted) * d_out)))
        numeric = (values[0] - values[1]) / (2 * EPS)
        grad = grads.get(key)
        analytic = float(np.sum(grad * direction)) if grad is not None and grad.shape == value.shape else None
        slopes[key] = (numeric, analytic)
    scale = max(abs(numeric) for numeric, _ in slopes.values()) or 1.0
    for key, (numeric, analytic) in slopes.items():
        if analytic is None:
            checks.append(OutputCheck(f"fd:{key}", False, "no_gradient"))
            continue
        error = abs(analytic - numeric)
        rel = error / max(abs(numeric), abs(analytic), 1e-2 * scale)  # floor: b_k's true slope is 0
        passed = bool(rel <= RTOL)
        checks.append(OutputCheck(
            f"fd:{key}", passed, None if passed else "finite_differences",
            {} if passed else {"analytic": f"{analytic:.6g}", "numeric": f"{numeric:.6g}"},
            max_abs_err=error, rel_err=rel))
    return checks
