"""What an exercise's checks.py declares: its cases, its tolerance, the classic mistakes to look for.

Imported by both the grader and the sandboxed worker, so it stays free of heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional


@dataclass(frozen=True)
class Tolerance:
    """An element passes when |got - expected| <= atol * scale + rtol * |expected|.

    `scale` is the largest |expected| value of the case (at least 1), so the absolute floor follows the
    magnitudes in play.
    """

    rtol: float = 1e-6
    atol: float = 1e-9
    why: str = ("float64 rounding leaves ~1e-13 relative; real bugs are off by 1e-3 or more; the floor "
                "covers values that are truly zero")

    def floor(self, expected_values) -> float:
        """The absolute tolerance for a case whose expected outputs are `expected_values`."""
        import numpy as np

        scale = 1.0
        for value in expected_values:
            finite = np.abs(value[np.isfinite(value)])
            if finite.size:
                scale = max(scale, float(finite.max()))
        return self.atol * scale


@dataclass
class Case:
    """One graded call: `function(*args.values())`, or `driver(namespace, args)` when the call is a protocol.

    args keep their order (they are passed positionally); values are arrays, dicts of arrays, numbers or None.
    `about` says in one line what the case exposes. `output_names` names the items of a returned tuple.
    """

    name: str
    about: str
    function: str
    args: Dict[str, Any]
    shapes: str = ""
    output_names: tuple = ()
    driver: Optional[Callable[[Any, Dict[str, Any]], Any]] = None
    gradcheck: bool = False

    def run(self, namespace: Any, args: Mapping[str, Any]) -> Any:
        """Call the submission (or the reference) `namespace` on `args`."""
        if self.driver is not None:
            return self.driver(namespace, dict(args))
        return getattr(namespace, self.function)(*args.values())


@dataclass(frozen=True)
class Mutant:
    """The reference with one classic mistake injected.

    `patch` maps a helper name of the solution module to a factory `reference_module -> buggy function`;
    `args_transform(args)` edits what the reference is called with; `transform(outputs, case)` edits what it
    returns. A mutant whose helpers the solution lacks, or that fails on a case, does not apply there.
    """

    id: str
    title: str
    patch: Mapping[str, Callable[[Any], Callable]] = field(default_factory=dict)
    args_transform: Optional[Callable[[Dict[str, Any]], Dict[str, Any]]] = None
    transform: Optional[Callable[[Dict[str, Any], Case], Dict[str, Any]]] = None


def flatten_arrays(value: Any, prefix: str) -> Dict[str, Any]:
    """{'params': {'W_q': a}} -> {'params.W_q': a}; other values map to themselves under `prefix`."""
    if isinstance(value, dict):
        flat: Dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten_arrays(item, f"{prefix}.{key}"))
        return flat
    return {prefix: value}


def named_outputs(result: Any, output_names: tuple = ()) -> Dict[str, Any]:
    """A function's return value as named outputs: an array is 'out', a dict keeps its keys, a tuple its names."""
    if isinstance(result, dict):
        return {str(key): value for key, value in result.items()}
    if isinstance(result, tuple) and output_names:
        return {name: value for name, value in zip(output_names, result)}
    return {"out": result}
