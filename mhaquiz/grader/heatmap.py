"""A small terminal heat map of where a wrong output differs from the reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

MAX_ROWS, MAX_COLS = 16, 32
SHADES = " .:-=+*#%@"  # light to heavy: readable without colour too


@dataclass
class Heatmap:
    """|got - expected| on a 2-D grid (max-pooled down to at most MAX_ROWS x MAX_COLS cells)."""

    case: str
    output: str
    caption: str
    rows_label: str
    cols_label: str
    values: List[List[float]]

    def to_dict(self) -> dict:
        return {"case": self.case, "output": self.output, "caption": self.caption, "rows": self.rows_label,
                "cols": self.cols_label, "values": self.values}


def pooled(grid: np.ndarray) -> np.ndarray:
    """Max-pool a 2-D array down to at most MAX_ROWS x MAX_COLS."""
    rows, cols = grid.shape
    row_step, col_step = -(-rows // MAX_ROWS), -(-cols // MAX_COLS)
    padded = np.full((-(-rows // row_step) * row_step, -(-cols // col_step) * col_step), 0.0)
    padded[:rows, :cols] = grid
    return padded.reshape(padded.shape[0] // row_step, row_step, -1, col_step).max(axis=(1, 3))


def error_grid(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|got - expected| of the first 2-D slice (leading axes at index 0); NaN and inf count as the largest."""
    diff = np.abs(np.asarray(got, dtype=float) - expected)
    diff = np.nan_to_num(diff, nan=np.inf)
    while diff.ndim > 2:
        diff = diff[0]
    diff = diff.reshape(diff.shape[0] if diff.ndim == 2 else 1, -1)
    finite_max = diff[np.isfinite(diff)].max(initial=0.0)
    return np.where(np.isfinite(diff), diff, 2 * finite_max if finite_max else 1.0)


def make(case_name: str, output: str, grid: np.ndarray, caption: str, rows_label: str, cols_label: str) -> Optional[Heatmap]:
    if grid.size == 0 or not np.any(grid):
        return None
    values = pooled(grid)
    return Heatmap(case_name, output, caption, rows_label, cols_label, np.round(values, 12).tolist())


def render(heatmap: Heatmap, console) -> None:
    """Shade each cell by its error relative to the largest one."""
    values = np.asarray(heatmap.values)
    top = values.max() or 1.0
    console.print(f"[bold]Where it differs[/] ({heatmap.caption}; rows: {heatmap.rows_label}, "
                  f"columns: {heatmap.cols_label}; darker = larger error, max {top:.2e}):", highlight=False)
    for row in values:
        cells = []
        for value in row:
            level = int(round((len(SHADES) - 1) * value / top))
            shade = SHADES[level] * 2
            cells.append(f"[red]{shade}[/]" if level >= len(SHADES) // 2 else shade)
        console.print("  |" + "".join(cells) + "|", highlight=False)
