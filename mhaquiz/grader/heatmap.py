"""A small terminal heat map of where a wrong output differs from the reference.

The error array is |got - expected| (NaN or inf where the reference is finite count as infinitely wrong).
An exercise may give a better view (`error_map` in its checks.py: the errors per head before the output
projection, say) with a name for each axis. The map shows the 2-D slice (the last two axes of the view)
that holds the largest error: the batch and head where things go most wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from mhaquiz.i18n import Text

MAX_ROWS, MAX_COLS = 16, 32
SHADES = " .:-=+*#%@"  # light to heavy: readable without colour too
HUGE = 1e6  # |got| this many times the case's scale is named in the caption


@dataclass
class Heatmap:
    """The pooled error grid of one output of one case, and what it shows."""

    case: str
    case_label: Text
    output: str
    view: Optional[Text]  # what the grid is (None: the output itself)
    where: List[tuple]  # the fixed leading axes: (axis key, index)
    rows: str  # axis key of the rows
    cols: str  # axis key of the columns
    values: List[List[float]]  # pooled |error|; inf where got is NaN/inf and the reference is not
    nonfinite: int = 0  # elements of the output that are NaN/inf where the reference is finite
    largest_got: Optional[float] = None  # set when the output holds huge values
    top: float = 0.0  # the largest finite error of the grid
    scale: float = 1.0

    def to_dict(self) -> dict:
        return {"case": self.case, "output": self.output, "view": {"zh": self.view.zh, "en": self.view.en} if self.view else None,
                "where": [{"axis": axis, "index": index} for axis, index in self.where], "rows": self.rows,
                "cols": self.cols, "values": self.values, "nonfinite": self.nonfinite,
                "largest_got": self.largest_got, "top": self.top}


def pooled(grid: np.ndarray) -> np.ndarray:
    """Max-pool a 2-D array down to at most MAX_ROWS x MAX_COLS (inf stays inf)."""
    rows, cols = grid.shape
    row_step, col_step = -(-rows // MAX_ROWS), -(-cols // MAX_COLS)
    padded = np.zeros((-(-rows // row_step) * row_step, -(-cols // col_step) * col_step))
    padded[:rows, :cols] = grid
    return padded.reshape(padded.shape[0] // row_step, row_step, -1, col_step).max(axis=(1, 3))


def error_array(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|got - expected|, with inf wherever got is NaN/inf and expected is not (and 0 where both agree)."""
    with np.errstate(all="ignore"):
        diff = np.abs(np.asarray(got, dtype=np.float64) - expected)
        same = (got == expected) | (np.isnan(got) & np.isnan(expected))
        return np.where(same, 0.0, np.nan_to_num(diff, nan=np.inf, posinf=np.inf))


def make(case, output: str, got: np.ndarray, expected: np.ndarray, scale: float,
         view: Optional[tuple] = None, focus: Optional[Sequence[int]] = None) -> Optional[Heatmap]:
    """The heat map of one wrong output; `view` = (errors, axis keys, view text) from the exercise's
    error_map, else the output's own |error| with numbered axes. None when there is nothing to draw.

    `focus` is the index of the output element the report names as the worst: the slice drawn is the one
    holding it (for a view whose first axis is the batch, the same batch), so the map and the report agree."""
    if view is None:
        errors = error_array(got, expected)
        axes: Sequence[str] = tuple(f"axis.{n}" for n in range(errors.ndim))
        text = None
    else:
        errors, axes, text = view
        errors = np.nan_to_num(np.asarray(errors, dtype=np.float64), nan=np.inf, posinf=np.inf, neginf=np.inf)
    if errors.size == 0 or not np.any(errors):
        return None
    if errors.ndim == 1:
        errors, axes = errors[None, :], ("axis.row", *axes)
    if errors.ndim == 0:
        return None
    worst = np.unravel_index(int(np.argmax(errors)), errors.shape)
    lead = tuple(worst[:-2])
    if focus is not None and lead and len(focus) == np.ndim(got):
        if view is None and len(focus) == errors.ndim:
            lead = tuple(int(i) for i in focus[:-2])
        elif view is not None and axes[0] == "axis.batch" and np.ndim(got) >= 3 and focus[0] < errors.shape[0]:
            within = errors[focus[0]]  # the worst element's batch; its largest error there picks the other axes
            lead = (int(focus[0]), *np.unravel_index(int(np.argmax(within)), within.shape)[:-2])
    grid = errors[lead] if lead else errors
    with np.errstate(all="ignore"):
        finite = grid[np.isfinite(grid)]
        got_abs = np.abs(np.asarray(got, dtype=np.float64))
        largest = float(np.max(got_abs[np.isfinite(got_abs)], initial=0.0))
    nonfinite = int(np.count_nonzero(~np.isfinite(got) & np.isfinite(expected)))
    return Heatmap(
        case=case.name, case_label=case.title, output=output, view=text,
        where=[(axes[i], int(index)) for i, index in enumerate(lead)], rows=axes[-2], cols=axes[-1],
        values=pooled(grid).tolist(), nonfinite=nonfinite, largest_got=largest if largest > HUGE * scale else None,
        top=float(finite.max()) if finite.size else 0.0, scale=scale)


def shade_rows(heatmap: Heatmap) -> List[List[tuple]]:
    """Each cell as (two shade characters, strong): the error relative to the largest finite one; NaN/inf
    and errors beyond the finite top at full strength."""
    rows = []
    for row in heatmap.values:
        cells = []
        for value in row:
            if not np.isfinite(value) or not heatmap.top:
                level = len(SHADES) - 1 if value else 0
            else:
                level = int(round((len(SHADES) - 1) * min(value / heatmap.top, 1.0)))
            cells.append((SHADES[level] * 2, level >= len(SHADES) // 2))
        rows.append(cells)
    return rows
