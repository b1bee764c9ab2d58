"""Name the classic mistake a failing submission most looks like, by matching it against mutants.

A mutant (the reference with one bug planted, mistakes.py) may explain a failing (case, output) pair only
when, on that pair, it differs from the reference by more than any precision slip could, and the
submission matches it. So a mutant that changes nothing on a case never "explains" a near miss there, and
an output that is only float32-sized off is never given a mutant's name: it gets the precision finding.
"""

from __future__ import annotations

import copy
import types
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from mhaquiz.grader.compare import differs, matches
from mhaquiz.grader.exercises import Exercise
from mhaquiz.grader.report import Diagnosis
from mhaquiz.grader.spec import Case, Mutant, named_outputs
from mhaquiz.i18n import LANGUAGES, Text, t

MAX_DIAGNOSES = 3


def catalogue_title(key: str) -> Text:
    """A title from the message catalogues, as content (for the findings that are not mutants)."""
    return Text(**{lang: t(key, lang) for lang in LANGUAGES})


def call(module, case: Case, mutant: Optional[Mutant] = None, dtype=None) -> Dict[str, np.ndarray]:
    """Run the (possibly mutated) reference on a copy of the case's inputs; outputs as float64 arrays.

    `dtype=np.float32` runs it on float32 copies of the floating inputs (how far float32 lands)."""
    args = copy.deepcopy(case.args)
    if dtype is not None:
        args = _cast(args, dtype)
    if mutant is not None and mutant.args_transform is not None:
        args = mutant.args_transform(args)
    with np.errstate(all="ignore"):
        outputs = named_outputs(case.run(module, args), case.output_names)
    if mutant is not None and mutant.transform is not None:
        outputs = mutant.transform(outputs, case)
    converted = {}
    for name, value in outputs.items():
        array = np.asarray(value)
        converted[name] = array.astype(np.float64) if dtype is not None and array.dtype.kind == "f" else array
    return converted


def _cast(value, dtype):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    if isinstance(value, dict):
        return {key: _cast(item, dtype) for key, item in value.items()}
    return value


def mutated_reference(exercise: Exercise, mutant: Mutant):
    """A fresh reference module with the mutant's helpers swapped in; None if it lacks one of them."""
    module = exercise.reference()
    if not all(hasattr(module, name) for name in mutant.patch):
        return None
    original = types.SimpleNamespace(**vars(module))  # buggy helpers may call the correct ones
    for name, factory in mutant.patch.items():
        setattr(module, name, factory(original))
    return module


@dataclass
class Evidence:
    """What diagnosing needs to know of one case."""

    case: Case
    expected: Dict[str, np.ndarray]
    submitted: Optional[Dict[str, np.ndarray]]
    failing: Set[str]  # outputs that failed with a mismatch a mutant could explain
    scale: float
    float32_error: Dict[str, float]  # per output: how far the reference run in float32 lands
    passing: Set[str] = field(default_factory=set)  # outputs the submission got right


def mutant_outputs(exercise: Exercise, mutant: Mutant, case: Case) -> Optional[Dict[str, np.ndarray]]:
    """The mutant's outputs on `case`, or None when the bug does not apply there (it raises, or the
    reference lacks the helper it patches)."""
    module = mutated_reference(exercise, mutant)
    if module is None:
        return None
    try:
        return call(module, case, mutant)
    except Exception:  # noqa: BLE001  (the bug cannot take these shapes)
        return None


FOOTPRINT_SHARE = 0.5  # a mutant must match the submission on at least this share of the outputs it changes


def explained_pairs(exercise: Exercise, mutant: Mutant, evidence: Sequence[Evidence]) -> Set[Tuple[int, str]]:
    """The failing (case index, output) pairs this mutant explains: it differs from the reference there,
    beyond any precision slip, and the submission matches it. None at all when the mutant is contradicted:
    it would get wrong an output the submission got right, or the submission matches it on less than
    FOOTPRINT_SHARE of the outputs the mistake changes (a coincidence on a few, not this mistake)."""
    pairs, footprint = set(), 0
    for index, item in enumerate(evidence):
        if item.submitted is None or not (item.failing or item.passing):
            continue
        outputs = mutant_outputs(exercise, mutant, item.case)
        if outputs is None:
            continue
        for name in item.passing:
            if name in outputs and name in item.expected and differs(
                    outputs[name], item.expected[name], item.scale, item.float32_error.get(name)):
                return set()
        for name in item.failing:
            if name not in outputs or name not in item.expected:
                continue
            if differs(outputs[name], item.expected[name], item.scale, item.float32_error.get(name)):
                footprint += 1
                if matches(item.submitted.get(name), outputs[name], item.scale):
                    pairs.add((index, name))
    return pairs if len(pairs) >= FOOTPRINT_SHARE * footprint else set()


def diagnose(exercise: Exercise, evidence: Sequence[Evidence]) -> List[Diagnosis]:
    """Greedy cover of the failing (case, output) pairs by the mutants that explain them (at most
    MAX_DIAGNOSES; ties go to the mutant listed first in the exercise's catalogue)."""
    mutants: Sequence[Mutant] = getattr(exercise.checks(), "MUTANTS", ())
    left = {(index, name) for index, item in enumerate(evidence) for name in item.failing}
    total = len(left)
    explained = {}
    for mutant in mutants:
        pairs = explained_pairs(exercise, mutant, evidence)
        if pairs:
            explained[mutant.id] = (mutant, pairs)
    diagnoses = []
    while left and explained and len(diagnoses) < MAX_DIAGNOSES:
        best = max(explained, key=lambda mutant_id: len(explained[mutant_id][1] & left))
        mutant, pairs = explained.pop(best)
        covered = pairs & left
        if not covered:
            break
        diagnoses.append(Diagnosis(mutant.id, mutant.title, sorted({name for _, name in covered}), len(covered), total,
                                   cases=_case_names(evidence, covered), related=mutant.related))
        left -= covered
    return diagnoses


def precision_finding(cases: list) -> List[Diagnosis]:
    """The outputs that are off by float32-sized errors only, as one finding."""
    pairs = [(case.name, check.name) for case in cases for check in case.outputs if check.problem == "precision"]
    if not pairs:
        return []
    failing = sum(1 for case in cases for check in case.outputs if not check.passed)
    return [Diagnosis("precision", catalogue_title("mistake.precision"), sorted({name for _, name in pairs}),
                      len(pairs), failing, cases=sorted({case for case, _ in pairs}, key=[c.name for c in cases].index),
                      related=("bw-gradcheck-thresholds",))]


def missing_outputs(cases: list) -> List[Diagnosis]:
    """A returned dict without some of the keys asked for is a classic mistake of its own."""
    pairs = [(case.name, check.name) for case in cases for check in case.outputs if check.problem == "missing"]
    if not pairs:
        return []
    names = sorted({name for _, name in pairs})
    return [Diagnosis("missing_outputs", catalogue_title("mistake.missing_outputs"), names, len(pairs), len(pairs),
                      cases=sorted({case for case, _ in pairs}, key=[c.name for c in cases].index))]


def _case_names(evidence: Sequence[Evidence], pairs) -> List[str]:
    return [evidence[index].case.name for index in sorted({index for index, _ in pairs})]
