"""Name the classic mistake a failing submission most looks like, by matching it against mutants.

A mutant (the reference with one bug planted, mistakes.py) may explain a failing (case, output) pair only
when, on that pair, it differs from the reference by more than any precision slip could, and the
submission matches it. So a mutant that changes nothing on a case never "explains" a near miss there, and
an output that is only float32-sized off is never given a mutant's name: it gets the precision finding.
Mistakes that explain exactly the same outputs are not named (nothing tells them apart). When no single
mutant explains anything, two planted together may: the pair is named under the same rule.
"""

from __future__ import annotations

import copy
import types
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from mhaquiz.grader.compare import differs, errors, matches
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


class _Helpers:
    """What a buggy helper sees as `ref`: the correct version of the helpers its own mutant replaces (a buggy
    helper may call the one it replaces), and the module's current version of every other helper, so that
    the patches of two mutants on different helpers compose (each bug sees the other)."""

    def __init__(self, module, original: types.SimpleNamespace, own):
        self._module, self._original, self._own = module, original, frozenset(own)

    def __getattr__(self, name):
        return getattr(self._original if name in self._own else self._module, name)


def mutated_reference(exercise: Exercise, mutant: Mutant):
    """A fresh reference module with the mutant's helpers swapped in; None if it lacks one of them."""
    module = exercise.reference()
    if not all(hasattr(module, name) for name in mutant.patch):
        return None
    original = types.SimpleNamespace(**vars(module))
    parts = getattr(mutant, "parts", None) or (mutant,)
    patched = {}
    for part in parts:  # a pair: each part's helpers see the other part's bugs, never their own replacement
        helpers = _Helpers(module, original, part.patch)
        patched.update({name: factory(helpers) for name, factory in part.patch.items()})
    for name, function in patched.items():
        setattr(module, name, function)
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
PAIR_CANDIDATES = 8  # pairs are drawn from the (at most) this many mutants that come closest to the submission
MAX_PAIRS = 28  # at most this many pairs are tried (8 candidates give 28 pairs)

Outputs = Optional[Dict[str, np.ndarray]]


def explained_pairs(exercise: Exercise, mutant: Mutant, evidence: Sequence[Evidence],
                    computed: Optional[Dict[int, Outputs]] = None) -> Set[Tuple[int, str]]:
    """The failing (case index, output) pairs this mutant explains: it differs from the reference there,
    beyond any precision slip, and the submission matches it. None at all when the mutant is contradicted:
    it would get wrong an output the submission got right, or the submission matches it on less than
    FOOTPRINT_SHARE of the outputs the mistake changes (a coincidence on a few, not this mistake).
    `computed` (case index -> the mutant's outputs) is filled as the cases are run, for reuse."""
    pairs, footprint = set(), 0
    for index, item in enumerate(evidence):
        if item.submitted is None or not (item.failing or item.passing):
            continue
        if computed is not None and index in computed:
            outputs = computed[index]
        else:
            outputs = mutant_outputs(exercise, mutant, item.case)
            if computed is not None:
                computed[index] = outputs
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


def _cover(explained: Dict[str, tuple], left: Set[Tuple[int, str]], total: int, evidence,
           limit: int) -> List[Diagnosis]:
    """Greedy cover of the failing pairs `left` by the explanations (id -> (mutant, pairs)), at most `limit`.

    Ties: when the best explanations cover exactly the same pairs, nothing tells those mistakes apart (both give
    inf for the loss, say), so none of them is named, nor any lesser explanation of those pairs; explanations
    that cover different pairs are named in turn, the one listed first in the catalogue first when they cover
    as many."""
    explained, diagnoses = dict(explained), []
    while left and explained and len(diagnoses) < limit:
        covering = {key: pairs & left for key, (_, pairs) in explained.items()}
        best = max(covering, key=lambda key: len(covering[key]))
        if not covering[best]:
            break
        tied = [key for key in covering if key != best and covering[key] == covering[best]]
        if tied:  # explained, but by which mistake nothing says: no name, and no lesser name for them either
            for key in [best] + tied:
                del explained[key]
            left = left - covering[best]
            continue
        mutant, _ = explained.pop(best)
        covered = covering[best]
        diagnoses.append(_diagnosis(mutant, covered, total, evidence))
        left = left - covered
    return diagnoses


def _diagnosis(mutant, covered, total: int, evidence) -> Diagnosis:
    parts = getattr(mutant, "parts", None) or (mutant,)
    related = tuple(dict.fromkeys(question for part in parts for question in part.related))
    return Diagnosis(parts[0].id, parts[0].title, sorted({name for _, name in covered}), len(covered), total,
                     cases=_case_names(evidence, covered), related=related,
                     pair=tuple((part.id, part.title) for part in parts) if len(parts) > 1 else ())


def diagnose(exercise: Exercise, evidence: Sequence[Evidence]) -> List[Diagnosis]:
    """Name the mutants that explain the failing (case, output) pairs: a greedy cover (at most MAX_DIAGNOSES,
    never naming one of several mistakes that explain exactly the same outputs). When no single mutant
    explains anything, a pair of mutants planted together may (two mistakes at once): see _pair_diagnosis."""
    mutants: Sequence[Mutant] = getattr(exercise.checks(), "MUTANTS", ())
    left = {(index, name) for index, item in enumerate(evidence) for name in item.failing}
    explained, computed = {}, {}
    for mutant in mutants:
        computed[mutant.id] = {}
        pairs = explained_pairs(exercise, mutant, evidence, computed[mutant.id])
        if pairs:
            explained[mutant.id] = (mutant, pairs)
    if explained:
        return _cover(explained, left, len(left), evidence, MAX_DIAGNOSES)
    return _pair_diagnosis(exercise, mutants, evidence, computed, left)


class Pair:
    """Two mutants planted together: their patches (on different helpers), argument edits and output edits
    composed, so each bug sees the other."""

    def __init__(self, first: Mutant, second: Mutant):
        self.parts = (first, second)
        self.id = f"{first.id}+{second.id}"
        self.title, self.related = first.title, first.related + second.related
        self.patch = {**first.patch, **second.patch}
        edits = [part.args_transform for part in self.parts if part.args_transform is not None]
        self.args_transform = None if not edits else lambda args: _chain(edits, args)
        transforms = [part.transform for part in self.parts if part.transform is not None]
        self.transform = None if not transforms else lambda outputs, case: _chain(
            [lambda value, edit=edit: edit(value, case) for edit in transforms], outputs)

    @staticmethod
    def composable(first: Mutant, second: Mutant) -> bool:
        """Two patches of the same helper cannot both hold: such pairs are not tried."""
        return not set(first.patch) & set(second.patch)


def _chain(functions, value):
    for function in functions:
        value = function(value)
    return value


def _pair_diagnosis(exercise: Exercise, mutants: Sequence[Mutant], evidence: Sequence[Evidence],
                    computed: Dict[str, Dict[int, Outputs]], left: Set[Tuple[int, str]]) -> List[Diagnosis]:
    """Two mistakes at once: a pair is named under the same rule as one mistake (it differs from the reference
    where it explains, the submission matches it on at least half of what it changes, no passing output
    contradicts it), only when no single mutant explains anything, and only if no other pair explains exactly
    the same outputs. Bounded: the pairs come from the PAIR_CANDIDATES mutants closest to the submission
    (each must change a failing output and contradict no passing one), at most MAX_PAIRS. (A mistake whose
    effect is small beside the other's, a hard-wired eps beside a missing gamma, may move the outputs hardly
    closer to the submission on its own: closeness ranks, it does not filter.)"""
    closeness = {}
    for mutant in mutants:
        ratio = _closeness(computed.get(mutant.id, {}), evidence)
        if ratio is not None:
            closeness[mutant.id] = ratio
    candidates = sorted((m for m in mutants if m.id in closeness), key=lambda m: closeness[m.id])[:PAIR_CANDIDATES]
    explained, tried = {}, 0
    for i, first in enumerate(candidates):
        for second in candidates[i + 1:]:
            if tried >= MAX_PAIRS:
                break
            if not Pair.composable(first, second):
                continue
            tried += 1
            pair = Pair(*sorted((first, second), key=lambda m: [x.id for x in mutants].index(m.id)))
            pairs = explained_pairs(exercise, pair, evidence)
            if pairs:
                explained[pair.id] = (pair, pairs)
    if not explained:
        return []
    return _cover(explained, left, len(left), evidence, 1)


def _closeness(outputs_by_case: Dict[int, Outputs], evidence: Sequence[Evidence]) -> Optional[float]:
    """How far the submission's failing outputs are from this mutant's, relative to how far they are from the
    reference's (below 1: the mutant moves them towards the submission); None when it contradicts a passing
    output or changes no failing one. Errors are capped (a NaN or inf counts as a large finite miss)."""
    to_mutant = to_reference = 0.0
    changes = False
    for index, item in enumerate(evidence):
        outputs = outputs_by_case.get(index)
        if outputs is None or item.submitted is None:
            continue
        for name in item.passing:
            if name in outputs and name in item.expected and differs(
                    outputs[name], item.expected[name], item.scale, item.float32_error.get(name)):
                return None
        for name in item.failing:
            got, mine, expected = item.submitted.get(name), outputs.get(name), item.expected.get(name)
            if got is None or mine is None or expected is None:
                continue
            if got.shape != mine.shape or got.shape != expected.shape:
                continue
            changes = changes or differs(mine, expected, item.scale, item.float32_error.get(name))
            cap = 1e3 * item.scale
            to_mutant += float(np.minimum(errors(got, mine), cap).sum()) / item.scale
            to_reference += float(np.minimum(errors(got, expected), cap).sum()) / item.scale
    if not changes or to_reference == 0.0:
        return None
    return to_mutant / to_reference


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
