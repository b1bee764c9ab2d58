"""Efficiency feedback for a correct submission: speed against the reference, and Python loops to vectorise."""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass, field
from typing import List, Optional


@dataclass
class Efficiency:
    """Seconds per call at a larger size (fastest of a few rounds), and the loops an interviewer would ask about."""

    shapes: str = ""
    submission_seconds: Optional[float] = None
    reference_seconds: Optional[float] = None
    loops: List[dict] = field(default_factory=list)  # {"line": n, "code": "for h in range(num_heads):"}

    @property
    def ratio(self) -> Optional[float]:
        if self.submission_seconds is None or not self.reference_seconds:
            return None
        return self.submission_seconds / self.reference_seconds

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def _is_literal_collection(node: ast.expr) -> bool:
    """A loop over a written-out tuple of a few things (e.g. the q, k, v projections) is not a data loop."""
    return isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict))


def python_loops(tree: ast.Module, source: str) -> List[dict]:
    """`for` and `while` loops inside the functions of the parsed `source`, except over literal collections:
    likely loops over batch, heads or positions that a vectorised solution does with matmuls and broadcasting."""
    lines = source.splitlines()
    found = []
    for function in (node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))):
        for node in ast.walk(function):
            if isinstance(node, ast.While) or (isinstance(node, ast.For) and not _is_literal_collection(node.iter)):
                found.append({"line": node.lineno, "code": lines[node.lineno - 1].strip()})
    unique = {item["line"]: item for item in found}  # nested functions are walked twice
    return [unique[line] for line in sorted(unique)]
