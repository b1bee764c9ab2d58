"""Efficiency feedback for a correct submission: the speed comparison (report.Efficiency, measured in the
worker) and the Python loops an interviewer would ask to vectorise."""

from __future__ import annotations

import ast
from typing import List

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_PASS_THROUGH = {"zip", "enumerate", "reversed", "sorted", "list", "tuple"}  # wrap what they iterate over


def _is_fixed_collection(node: ast.expr) -> bool:
    """A few written-out things (the q, k, v projections, a params dict's entries): not a loop over data.

    Literal collections; zip/enumerate/... over only such; a dict's .items()/.keys()/.values()."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in _PASS_THROUGH and node.args:
            return all(_is_fixed_collection(arg) for arg in node.args)
        if isinstance(func, ast.Attribute) and func.attr in ("items", "keys", "values") and not node.args:
            return True
    return False


def python_loops(tree: ast.Module, source: str) -> List[dict]:
    """`for` and `while` loops and comprehensions inside the functions of the parsed `source`, except over
    fixed collections: likely loops over batch, heads or positions that matmuls and broadcasting replace."""
    lines = source.splitlines()
    found = {}
    for function in (node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))):
        for node in ast.walk(function):
            if isinstance(node, ast.While):
                iterables = []
            elif isinstance(node, ast.For):
                iterables = [node.iter]
            elif isinstance(node, _COMPREHENSIONS):
                iterables = [generator.iter for generator in node.generators]
            else:
                continue
            if iterables and all(_is_fixed_collection(iterable) for iterable in iterables):
                continue
            line = node.lineno
            found[line] = {"line": line, "code": lines[line - 1].strip()[:200] if line <= len(lines) else ""}
    return [found[line] for line in sorted(found)]  # nested functions are walked twice: one entry per line
