"""Name the classic mistake a failing submission most looks like, by matching it against mutants."""

from __future__ import annotations

import copy
import types
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from mhaquiz.grader.compare import matches
from mhaquiz.grader.exercises import Exercise
from mhaquiz.grader.spec import Case, Mutant, Tolerance, named_outputs

MAX_DIAGNOSES = 3


@dataclass
class Diagnosis:
    """A mistake the submission's failing outputs match: `matched` of the `failing` (case, output) pairs."""

    mistake: str
    title: str
    outputs: List[str]
    matched: int
    failing: int

    def to_dict(self) -> dict:
        return asdict(self)


def call(module, case: Case, mutant: Optional[Mutant] = None) -> Dict[str, np.ndarray]:
    """Run the (possibly mutated) reference on a copy of the case's inputs; outputs as float arrays."""
    args = copy.deepcopy(case.args)
    if mutant is not None and mutant.args_transform is not None:
        args = mutant.args_transform(args)
    with np.errstate(all="ignore"):
        outputs = named_outputs(case.run(module, args), case.output_names)
    if mutant is not None and mutant.transform is not None:
        outputs = mutant.transform(outputs, case)
    return {name: np.asarray(value) for name, value in outputs.items()}


def mutated_reference(exercise: Exercise, mutant: Mutant):
    """A fresh reference module with the mutant's helpers swapped in; None if it lacks one of them."""
    module = exercise.reference()
    if not all(hasattr(module, name) for name in mutant.patch):
        return None
    original = types.SimpleNamespace(**vars(module))  # buggy helpers may call the correct ones
    for name, factory in mutant.patch.items():
        setattr(module, name, factory(original))
    return module


def diagnose(exercise: Exercise, cases: Sequence[Case], submitted: Sequence[Optional[Dict[str, np.ndarray]]],
             failing: Sequence[Set[str]], tol: Tolerance, floors: Sequence[float]) -> List[Diagnosis]:
    """Greedy cover of the failing (case, output) pairs by the mutants that reproduce them."""
    mutants: Sequence[Mutant] = getattr(exercise.checks(), "MUTANTS", ())
    total = sum(len(keys) for keys in failing)
    explained: Dict[str, Set[Tuple[int, str]]] = {}
    for mutant in mutants:
        module = mutated_reference(exercise, mutant)
        if module is None:
            continue
        pairs = set()
        for index, (case, outputs, keys, floor) in enumerate(zip(cases, submitted, failing, floors)):
            if not keys or outputs is None:
                continue
            try:
                expected = call(module, case, mutant)
            except Exception:  # the bug does not apply to this case (e.g. shapes it cannot take)
                continue
            pairs.update((index, key) for key in keys if key in expected and matches(outputs.get(key), expected[key], tol, floor))
        if pairs:
            explained[mutant.id] = pairs

    titles = {mutant.id: mutant.title for mutant in mutants}
    diagnoses, left = [], {pair for index, keys in enumerate(failing) for pair in ((index, key) for key in keys)}
    while left and explained and len(diagnoses) < MAX_DIAGNOSES:
        best = max(explained, key=lambda mutant_id: len(explained[mutant_id] & left))
        covered = explained.pop(best) & left
        if not covered:
            break
        outputs = sorted({key for _, key in covered})
        diagnoses.append(Diagnosis(best, titles[best], outputs, len(covered), total))
        left -= covered
    return diagnoses
