"""What an exercise's checks.py declares: its cases, its tolerance, the classic mistakes to look for.

Imported by both the grader and the sandboxed worker, so it stays free of heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from mhaquiz.i18n import Text

# Precision: an output that misses the float64 tolerance but is this close to the reference (relative to
# the case's scale, plus ten times what the reference itself loses when run in float32 on the same case)
# agrees to float32 accuracy: a float32 constant or array, not a wrong formula.
PRECISION_RTOL = 1e-5
PRECISION_FACTOR = 10.0
# A submission matches a mutant (the reference with one bug planted) when it is this close to it: looser
# than the grading tolerance, since the same bug written another way rounds differently.
MATCH_RTOL = 1e-6


@dataclass(frozen=True)
class Tolerance:
    """An element passes when |got - expected| <= atol * scale + rtol * |expected|.

    `scale` is the largest |expected| value of the case (at least 1), so the absolute floor follows the
    magnitudes in play. float64 rounding leaves about 1e-15 of the scale (1e-12 on large logits); a float32
    constant leaves about 1e-8; real bugs are off by 1e-3 or more.
    """

    rtol: float = 1e-10
    atol: float = 1e-10
    why: Text = Text(
        zh="float64 的舍入误差约为尺度的 1e-15（大 logits 时约 1e-12），一个 float32 常数就会带来约 1e-8 的误差，"
           "真正的 bug 通常差 1e-3 以上；绝对下限用来容纳真值为 0 的元素",
        en="float64 rounding leaves about 1e-15 of the scale (1e-12 on large logits), a single float32 constant "
           "about 1e-8, and real bugs 1e-3 or more; the absolute floor covers values that are truly zero")

    @staticmethod
    def scale(expected_values) -> float:
        """The case's scale: the largest finite |expected| over its outputs, at least 1."""
        import numpy as np

        scale = 1.0
        for value in expected_values:
            value = np.asarray(value)
            finite = np.abs(value[np.isfinite(value)])
            if finite.size:
                scale = max(scale, float(finite.max()))
        return scale


@dataclass
class Case:
    """One graded call: `function(*args.values())`, or `driver(namespace, args)` when the call is a protocol.

    `name` is the case's stable id (JSON, tests); `label` its name as shown (defaults to `name`); `about`
    says in one line what the case exposes. args keep their order (they are passed positionally); values
    are arrays, dicts of arrays, numbers or None. `output_names` names the items of a returned tuple.
    """

    name: str
    about: Text
    function: str
    args: Dict[str, Any]
    shapes: str = ""
    output_names: tuple = ()
    driver: Optional[Callable[[Any, Dict[str, Any]], Any]] = None
    gradcheck: bool = False
    label: Optional[Text] = None

    def run(self, namespace: Any, args: Mapping[str, Any]) -> Any:
        """Call the submission (or the reference) `namespace` on `args`."""
        if self.driver is not None:
            return self.driver(namespace, dict(args))
        return getattr(namespace, self.function)(*args.values())

    @property
    def title(self) -> Text:
        return self.label or Text(zh=self.name, en=self.name)


@dataclass(frozen=True)
class Mutant:
    """The reference with one classic mistake injected.

    `patch` maps a helper name of the solution module to a factory `reference_module -> buggy function`;
    `args_transform(args)` edits what the reference is called with; `transform(outputs, case)` edits what it
    returns. A mutant whose helpers the solution lacks, or that fails on a case, does not apply there.
    `related` lists the question ids (or topic ids) of the bank that teach the concept the mistake misses:
    when the grader names the mistake, `ask` brings them due.
    """

    id: str
    title: Text
    patch: Mapping[str, Callable[[Any], Callable]] = field(default_factory=dict)
    args_transform: Optional[Callable[[Dict[str, Any]], Dict[str, Any]]] = None
    transform: Optional[Callable[[Dict[str, Any], Case], Dict[str, Any]]] = None
    related: Tuple[str, ...] = ()


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
